//! Tests of `run`: the input thread's lines (numbering, CR trimming, chunks, bad UTF-8, the
//! length limit, reads of any size), the newline finder and the progress line.

use super::*;

/// What the pump sees of `input`: "n:text" per line, "!report" per bad line, then "eof" or
/// "error ...".
fn lines_of(input: &[u8]) -> Vec<String> {
    lines_read_by(io::Cursor::new(input.to_vec()))
}

/// [`lines_of`] through any reader.
fn lines_read_by<R: Read>(input: R) -> Vec<String> {
    // Unbounded: the reader runs to the end on this thread, the chunks wait in the channel.
    let (tx, rx) = crossbeam_channel::unbounded();
    read_lines(input, tx);
    let mut out = Vec::new();
    let mut no = 0;
    for c in rx.iter() {
        let mut start = 0;
        for k in 0..c.ends.len() {
            no += 1;
            out.push(format!("{no}:{}", c.line(k, start)));
            start = c.ends[k] + 1;
        }
        match c.then {
            None => {}
            Some(Then::Bad(why)) => {
                no += 1;
                out.push(format!("!{}", why.message(no)));
            }
            Some(Then::Eof) => out.push("eof".into()),
            Some(Then::Error(e)) => out.push(format!("error {e}")),
        }
    }
    out
}

#[test]
fn progress_line_shows_counts_and_the_recent_rate() {
    assert_eq!(
        progress_line(
            1200,
            900,
            450,
            Duration::from_millis(1500),
            Duration::from_secs(7)
        ),
        "rocketmq-bridge: 1200 lines read, 900 messages sent, 300 msg/s, 7s"
    );
    assert_eq!(
        progress_line(0, 0, 0, Duration::ZERO, Duration::ZERO),
        "rocketmq-bridge: 0 lines read, 0 messages sent, 0 msg/s, 0s"
    );
}

#[test]
fn lines_are_numbered_and_crlf_trimmed() {
    assert_eq!(
        lines_of(b"a\nb\r\n\nc"),
        vec!["1:a", "2:b", "3:", "4:c", "eof"]
    );
    assert_eq!(lines_of(b""), vec!["eof"]);
    assert_eq!(lines_of(b"x\n"), vec!["1:x", "eof"]);
}

/// Lines across many chunks (by count and by text size, a bad line between) come out whole,
/// numbered and in order.
#[test]
fn lines_span_chunks_whole_and_in_order() {
    let mut input = Vec::new();
    let mut want = Vec::new();
    for i in 1..=3_000u64 {
        if i == 1_500 {
            input.extend_from_slice(b"\xff\n");
            want.push(format!("!line {i}: not valid UTF-8"));
            continue;
        }
        let line = format!("{i}:{}", "y".repeat((i as usize * 37) % 200));
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        want.push(format!("{i}:{line}"));
    }
    want.push("eof".into());
    assert_eq!(lines_of(&input), want);
}

#[test]
fn bad_utf8_and_overlong_lines_are_reported_not_buffered() {
    let mut input = b"ok\n\xff\xfe\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', MAX_EVENT_LINE_LEN + 10));
    input.extend_from_slice(b"\nlast\n");
    let got = lines_of(&input);
    assert_eq!(got.len(), 5, "{:?}", &got);
    assert_eq!(got[0], "1:ok");
    assert!(got[1].starts_with("!line 2: not valid UTF-8"), "{}", got[1]);
    assert!(got[2].starts_with("!line 3: line is longer"), "{}", got[2]);
    assert_eq!(got[3], "4:last");
    assert_eq!(got[4], "eof");
}

/// A reader that gives at most a few bytes per read (the sizes cycle), then fails with
/// `error` if there is one.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
    sizes: &'static [usize],
    error: Option<io::ErrorKind>,
}

impl Read for Trickle {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.data.len() {
            return match self.error.take() {
                Some(kind) => Err(io::Error::new(kind, "boom")),
                None => Ok(0),
            };
        }
        let n = self.sizes[self.step % self.sizes.len()]
            .min(out.len())
            .min(self.data.len() - self.at);
        self.step += 1;
        out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn trickle(data: &[u8], sizes: &'static [usize]) -> Trickle {
    Trickle {
        data: data.to_vec(),
        at: 0,
        step: 0,
        sizes,
        error: None,
    }
}

/// The lines come out the same however the input is cut into reads: one byte at a time,
/// a few, or all at once; bad UTF-8 (also several lines of it in one read, and in the last
/// line without its newline), CRLF and blank lines included.
#[test]
fn lines_do_not_depend_on_how_the_input_is_read() {
    let input: &[u8] =
        b"{\"a\":1}\r\n\n\xff\nok \xc3\xa9\n\xc3\n\xe2\x82\nlast\r\n\r\n x \n\xf0\x9f\x98";
    let want = vec![
        "1:{\"a\":1}",
        "2:",
        "!line 3: not valid UTF-8",
        "4:ok \u{e9}",
        "!line 5: not valid UTF-8",
        "!line 6: not valid UTF-8",
        "7:last",
        "8:",
        "9: x ",
        "!line 10: not valid UTF-8",
        "eof",
    ];
    assert_eq!(lines_of(input), want);
    for sizes in [&[1usize][..], &[2], &[3, 1, 7], &[5, 11]] {
        assert_eq!(lines_read_by(trickle(input, sizes)), want, "{sizes:?}");
    }
    // A read error ends the lines; the unfinished one is not a line.
    let mut failing = trickle(b"a\nb\nunfinished", &[3]);
    failing.error = Some(io::ErrorKind::Other);
    assert_eq!(lines_read_by(failing), vec!["1:a", "2:b", "error boom"]);
    // An interrupted read is retried.
    let mut interrupted = trickle(b"a\n", &[1]);
    interrupted.error = Some(io::ErrorKind::Interrupted);
    assert_eq!(lines_read_by(interrupted), vec!["1:a", "eof"]);
}

/// A line of exactly `MAX_EVENT_LINE_LEN` bytes is a line; one byte more (a `\r` before the
/// newline counts) is reported as too long, also as the last line without a newline, and
/// however the reads cut it; the lines around it are kept.
#[test]
fn lines_at_the_length_limit() {
    let max = MAX_EVENT_LINE_LEN;
    let mut input = b"a\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', max));
    input.extend_from_slice(b"\nb\n");
    input.extend(std::iter::repeat_n(b'y', max));
    input.extend_from_slice(b"\r\nc\n");
    input.extend(std::iter::repeat_n(b'z', max + 1));
    let long = format!("!line 4: line is longer than the limit of {max} bytes");
    let last = format!("!line 6: line is longer than the limit of {max} bytes");
    for sizes in [&[READ_SIZE][..], &[4093, 1, 70_001]] {
        let got = lines_read_by(trickle(&input, sizes));
        let short: Vec<String> = got
            .iter()
            .map(|l| {
                if l.len() > 100 {
                    format!("{}... ({} bytes)", &l[..4], l.len())
                } else {
                    l.clone()
                }
            })
            .collect();
        assert_eq!(
            short,
            vec![
                "1:a".to_owned(),
                format!("2:xx... ({} bytes)", max + 2),
                "3:b".to_owned(),
                long.clone(),
                "5:c".to_owned(),
                last.clone(),
                "eof".to_owned()
            ],
            "{sizes:?}"
        );
    }
}

/// The newline finder finds every `\n` and nothing else, wherever it sits in its 32-byte
/// step (and in the tail), next to bytes that fool the shorter zero-byte test (0x0b, 0x8a,
/// 0x0a + 0x80).
#[test]
fn push_newlines_finds_exactly_the_newlines() {
    for len in 0..80 {
        for fill in [b'a', 0x0b, 0x8a, 0x00, 0xff, 0x09] {
            for every in [1, 2, 3, 7, 31, 32, 33, 1000] {
                let mut b = vec![fill; len];
                for i in (0..len).filter(|i| i % every == every - 1) {
                    b[i] = b'\n';
                }
                let want: Vec<usize> = (0..len).filter(|&i| b[i] == b'\n').collect();
                let mut got = Vec::new();
                push_newlines(&b, &mut got);
                assert_eq!(got, want, "len {len} fill {fill:#x} every {every}");
            }
        }
    }
}

/// Random inputs (short lines of text, CR, CRLF, lone CR, blank lines, invalid and cut UTF-8,
/// multi-byte characters, a last line with or without its newline) read in random pieces, also
/// pieces that end between a CR and its LF or inside a character: the lines are what the
/// reader before issue #22 gave (split at `\n`, one `\r` trimmed, a line that is not UTF-8
/// reported by its number), and a read error keeps the complete lines before it.
#[test]
fn random_inputs_read_in_random_pieces_give_the_old_readers_lines() {
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        step: usize,
        fail: bool,
    }
    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() {
                return if std::mem::take(&mut self.fail) {
                    Err(io::Error::other("boom"))
                } else {
                    Ok(0)
                };
            }
            let n = self.sizes[self.step % self.sizes.len()]
                .min(out.len())
                .min(self.data.len() - self.at);
            self.step += 1;
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    /// The old reader's lines, written from its rules.
    fn oracle(input: &[u8], fail: bool) -> Vec<String> {
        let mut parts: Vec<&[u8]> = input.split(|&c| c == b'\n').collect();
        let unfinished = parts.pop().filter(|p| !p.is_empty());
        let mut out = Vec::new();
        let mut no = 0;
        let mut line = |p: &[u8], out: &mut Vec<String>| {
            no += 1;
            let p = p.strip_suffix(b"\r").unwrap_or(p);
            match std::str::from_utf8(p) {
                Ok(s) => out.push(format!("{no}:{s}")),
                Err(_) => out.push(format!("!line {no}: not valid UTF-8")),
            }
        };
        for p in parts {
            line(p, &mut out);
        }
        if fail {
            out.push("error boom".into());
            return out;
        }
        if let Some(p) = unfinished {
            line(p, &mut out);
        }
        out.push("eof".into());
        out
    }
    let pieces: [&[u8]; 14] = [
        b"{\"a\":1}",
        b"\n",
        b"\r\n",
        b"\r",
        b"x",
        b" ",
        b"\xc3\xa9",
        b"\xc3",
        b"\xa9",
        b"\xff",
        b"\xf0\x9f\x98\x80",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"abcdefghijklmnopqrstuvwxyz0123456789",
    ];
    let mut rng = rocketmq_bridge_test_support::XorShift::new(0x2e4d_1175);
    for round in 0..3_000 {
        let mut data = Vec::new();
        for _ in 0..rng.below(40) {
            data.extend_from_slice(pieces[rng.below(pieces.len() as u64) as usize]);
        }
        let sizes: Vec<usize> = (0..1 + rng.below(4))
            .map(|_| {
                let most = if rng.below(2) == 0 { 4 } else { 300 };
                1 + rng.below(most) as usize
            })
            .collect();
        let fail = rng.below(5) == 0;
        let got = lines_read_by(Pieces {
            data: data.clone(),
            at: 0,
            sizes: sizes.clone(),
            step: 0,
            fail,
        });
        assert_eq!(
            got,
            oracle(&data, fail),
            "round {round}: {:?} in pieces of {sizes:?}",
            String::from_utf8_lossy(&data)
        );
    }
}
