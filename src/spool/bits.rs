//! A growable bit set: one bit per sequence number of a segment (set = released).

#[derive(Debug, Clone, Default)]
pub(crate) struct Bits {
    words: Vec<u64>,
    len: u64,
}

impl Bits {
    /// `len` bits, all set to `value`.
    pub(crate) fn filled(len: u64, value: bool) -> Bits {
        let words = len.div_ceil(64) as usize;
        let mut b = Bits {
            words: vec![if value { u64::MAX } else { 0 }; words],
            len,
        };
        if value && !len.is_multiple_of(64) {
            // Bits past `len` stay clear, as `extend` expects.
            b.words[words - 1] = (1u64 << (len % 64)) - 1;
        }
        b
    }

    /// Removes the last bit.
    pub(crate) fn pop(&mut self) {
        debug_assert!(self.len > 0);
        let i = self.len - 1;
        self.set(i, false);
        self.len = i;
        if self.len.is_multiple_of(64) {
            self.words.pop();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    pub(crate) fn set(&mut self, i: u64, value: bool) {
        debug_assert!(i < self.len);
        let w = &mut self.words[(i / 64) as usize];
        if value {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }

    /// Appends `n` bits of `value`.
    pub(crate) fn extend(&mut self, n: u64, value: bool) {
        for _ in 0..n {
            if self.len.is_multiple_of(64) {
                self.words.push(0);
            }
            self.len += 1;
            let i = self.len - 1;
            self.set(i, value);
        }
    }

    /// Runs of clear bits as `(start, end)` index ranges, in order.
    pub(crate) fn clear_runs(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.len {
            let w = self.words[(i / 64) as usize];
            if i.is_multiple_of(64) && w == u64::MAX {
                i += 64;
                continue;
            }
            if self.get(i) {
                i += 1;
                continue;
            }
            let start = i;
            while i < self.len && !self.get(i) {
                i += 1;
            }
            out.push((start, i));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_clear_bits() {
        let mut b = Bits::filled(3, true);
        b.extend(200, false);
        for i in 0..130 {
            b.set(3 + i, true);
        }
        b.set(150, true);
        assert_eq!(b.len(), 203);
        assert!(b.get(0) && b.get(150) && !b.get(149) && !b.get(202) && !b.get(203));
        assert_eq!(b.clear_runs(), vec![(133, 150), (151, 203)]);
        assert_eq!(Bits::filled(128, true).clear_runs(), vec![]);
        let mut f = Bits::filled(70, true);
        f.extend(2, false);
        assert_eq!(f.clear_runs(), vec![(70, 72)]);
        f.pop();
        f.pop();
        f.extend(1, false);
        assert_eq!((f.len(), f.clear_runs()), (71, vec![(70, 71)]));
    }
}
