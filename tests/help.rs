//! `--help` of every subcommand, as snapshots: the command line is a contract (DESIGN.md),
//! and its text teaches; a change to either shows up here for review
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test --test tests help::`).

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_heapmortem"))
        .args(args)
        .arg("--help")
        // clap wraps help to the terminal; tests have none, so the width is fixed.
        .env("COLUMNS", "100")
        .output()
        .expect("run heapmortem");
    assert!(out.status.success(), "--help exits 0");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!("heapmortem", help(&[]));
}

#[test]
fn subcommand_help() {
    for sub in [
        "info", "threads", "heap", "leaks", "explain", "diff", "profile", "report",
    ] {
        insta::assert_snapshot!(format!("heapmortem-{sub}"), help(&[sub]));
    }
}
