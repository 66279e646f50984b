//! `rocketmq-bridge --version` and the help of each subcommand, through the binary.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rocketmq-bridge");

fn bin(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_prints_the_package_version() {
    let want = format!("rocketmq-bridge {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V", "version"] {
        let (code, stdout, stderr) = bin(&[flag]);
        assert_eq!(code, Some(0), "{flag}: {stderr}");
        assert_eq!(stdout, want, "{flag}");
    }
}

#[test]
fn every_subcommand_has_its_own_help() {
    for sub in ["run", "mqtt", "send", "consume", "route", "status"] {
        let usage = format!("usage: rocketmq-bridge {sub} ");
        for args in [vec![sub, "--help"], vec![sub, "-h"], vec!["help", sub]] {
            let (code, stdout, stderr) = bin(&args);
            assert_eq!(code, Some(0), "{args:?}: {stderr}");
            assert!(stdout.starts_with(&usage), "{args:?}: {stdout}");
            // Each option the usage line names is explained below it.
            let first = stdout.lines().next().unwrap();
            for opt in first.split_whitespace().filter(|w| w.contains("--")) {
                let opt = opt.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'));
                assert!(
                    stdout
                        .lines()
                        .skip(1)
                        .any(|l| l.trim_start().starts_with(opt)),
                    "{sub}: {opt} is not explained:\n{stdout}"
                );
            }
        }
    }
    // --help wins over missing required options: nothing is started.
    let (code, stdout, _) = bin(&["run", "--help", "--config"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("SIGHUP"), "{stdout}");
}

#[test]
fn help_lists_every_subcommand_and_refuses_unknown_ones() {
    let (code, stdout, _) = bin(&["help"]);
    assert_eq!(code, Some(0));
    for sub in [
        "run",
        "mqtt",
        "send",
        "consume",
        "route",
        "status",
        "--version",
    ] {
        assert!(
            stdout.contains(&format!("rocketmq-bridge {sub}")),
            "{sub}: {stdout}"
        );
    }
    let (code, _, stderr) = bin(&["help", "fly"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown subcommand \"fly\""), "{stderr}");
    let (code, _, stderr) = bin(&["fly", "--help"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown subcommand \"fly\""), "{stderr}");
}
