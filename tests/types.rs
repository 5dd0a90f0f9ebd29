//! What the memory is and what keeps it alive: `heap --by type`, `explain`, and the types of
//! `leaks`, on glibc and on jemalloc.
//!
//! Ground truth is the workload's own account: `tests/fixtures/types/objects.cpp` writes how
//! many objects of each class it holds and where (the address of `g_sessions[2]`, of the
//! vector's buffer, of the first object it leaked) into `objects.truth` through a static
//! buffer, then aborts. The core is read against that file: class names come from the
//! vtables through RTTI, the chain that anchors `g_sessions[2]` must run from the global
//! `g_sessions` through the vector's buffer at offset 16 (index 2 of 8-byte pointers), and
//! the leaked `Connection` must be anchored by nothing. Stack roots are named as gdb names
//! them on the same core: the `Job` whose only pointer is the local `pending` of
//! `hold_job()`, and `timers[3]` in `main`'s array `timers`, must be anchored from the word
//! of the variable gdb places there (`info locals`, `print &NAME`, `print sizeof(NAME)` in
//! that frame), once built with g++ and once with clang++. The same program is built against
//! glibc malloc and against Debian's libjemalloc (5.3), so both walkers feed the same
//! allocator-neutral passes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::harness::fixture::abort_core;
use crate::harness::gdb::GdbRun;
use crate::harness::process::{require, run, Output};
use crate::harness::{cli, parse_hex, repo_root, unique_dir};

/// Which malloc the workload runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Malloc {
    Glibc,
    Jemalloc,
}

/// One run of objects.cpp: its core and what it wrote in `objects.truth`.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    exe: PathBuf,
    pub(crate) core: PathBuf,
    truth: HashMap<String, String>,
}

impl Run {
    /// A number of the truth file (`sessions`, `sizeof_timer`, …).
    pub(crate) fn count(&self, key: &str) -> u64 {
        self.truth[key].parse().expect("a count")
    }
    fn address(&self, key: &str) -> u64 {
        parse_hex(&self.truth[key]).expect("a hex address")
    }
}

/// Which compiler builds the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Compiler {
    /// `g++` (Debian's GCC).
    Gcc,
    /// `clang++` (Debian's `clang`).
    Clang,
}

/// objects.cpp built with `g++`, run to its core.
pub(crate) fn objects(malloc: Malloc) -> Option<Run> {
    objects_built(malloc, Compiler::Gcc)
}

/// Builds objects.cpp (`-O0 -g`, with `-ljemalloc` for jemalloc) and runs it to its core,
/// once per allocator and compiler.
fn objects_built(malloc: Malloc, compiler: Compiler) -> Option<Run> {
    type Runs = HashMap<(Malloc, Compiler), Option<Run>>;
    static RUNS: OnceLock<std::sync::Mutex<Runs>> = OnceLock::new();
    let runs = RUNS.get_or_init(Default::default);
    let mut runs = runs.lock().unwrap_or_else(|e| e.into_inner());
    runs.entry((malloc, compiler))
        .or_insert_with(|| {
            let (program, package) = match compiler {
                Compiler::Gcc => ("g++", "g++"),
                Compiler::Clang => ("clang++", "clang"),
            };
            if !require(program, package) {
                return None;
            }
            if malloc == Malloc::Jemalloc
                && !std::path::Path::new("/usr/include/jemalloc/jemalloc.h").exists()
                && !require("jemalloc-config", "libjemalloc-dev")
            {
                return None;
            }
            let dir = unique_dir(&format!("types-{malloc:?}-{compiler:?}"));
            let exe = dir.join("objects");
            let mut cc = Command::new(program);
            cc.args(["-O0", "-g"])
                .arg(repo_root().join("tests/fixtures/types/objects.cpp"))
                .arg("-o")
                .arg(&exe);
            if malloc == Malloc::Jemalloc {
                cc.arg("-ljemalloc");
            }
            run(&mut cc, Duration::from_secs(180)).expect_success("compiling objects.cpp");
            let core = abort_core(&exe, &[], &[], &dir);
            let text = std::fs::read_to_string(dir.join("objects.truth"))
                .expect("the workload wrote objects.truth");
            let truth = text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some(Run { exe, core, truth })
        })
        .clone()
}

/// The fixture's classes, with the keys of their count and `sizeof` in the truth file.
pub(crate) const CLASSES: [(&str, &str, &str); 5] = [
    ("app::Session", "sessions", "sizeof_session"),
    ("app::Timer", "timers", "sizeof_timer"),
    ("Connection", "leaked", "sizeof_connection"),
    ("Request", "requests", "sizeof_request"),
    ("Job", "jobs", "sizeof_job"),
];

impl Run {
    /// Checks a row of class `name` (one of [`CLASSES`]): as many objects as the program
    /// made, and usable bytes of at least what it asked for, at most one size class more.
    pub(crate) fn assert_class_row(&self, name: &str, count: u64, bytes: u64) {
        let (_, count_key, size_key) = CLASSES
            .iter()
            .find(|c| c.0 == name)
            .expect("a class of the fixture");
        assert_eq!(
            count,
            self.count(count_key),
            "{name}: objects the program made"
        );
        let asked = self.count(size_key);
        assert!(
            bytes >= count * asked && bytes <= count * (asked * 2 + 16),
            "{name}: {bytes} bytes for {count} objects of {asked}"
        );
    }
}

/// `heap --by type --format json`, the keys DESIGN.md gives `types[]`.
#[derive(Debug, Deserialize)]
struct ByType {
    allocator: String,
    types: Vec<TypeRow>,
}

#[derive(Debug, Deserialize)]
struct TypeRow {
    name: String,
    kind: String,
    count: u64,
    bytes: u64,
    example: String,
}

/// `explain --format json` (DESIGN.md).
#[derive(Debug, Deserialize)]
struct Explain {
    allocation: ExplainedBlock,
    incoming: Vec<Incoming>,
    anchored: bool,
    anchor_chain: Vec<Link>,
}

#[derive(Debug, Deserialize)]
struct ExplainedBlock {
    address: String,
    size: u64,
    state: String,
    #[serde(rename = "type")]
    type_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Incoming {
    holder: String,
    offset: u64,
}

#[derive(Debug, Deserialize)]
struct Link {
    kind: String,
    address: Option<String>,
    offset: Option<u64>,
    symbol: Option<String>,
    thread: Option<u64>,
    frame: Option<String>,
    variable: Option<String>,
    #[serde(rename = "type")]
    type_name: Option<String>,
}

/// `heapmortem explain CORE ADDRESS`, as text.
fn explain(run: &Run, address: &str) -> Output {
    cli::heapmortem([
        OsStr::new("explain"),
        run.core.as_os_str(),
        OsStr::new(address),
    ])
}

/// `heapmortem explain CORE ADDRESS --format json`, which must succeed.
fn explain_json(run: &Run, address: String) -> Explain {
    let out = cli::heapmortem([
        OsStr::new("explain"),
        run.core.as_os_str(),
        OsStr::new(&address),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    cli::assert_exit(&out, 0);
    cli::parse_json(&out, "explain")
}

fn by_type(malloc: Malloc) {
    let Some(run) = objects(malloc) else { return };
    let out = cli::json_of("heap", &run.core, &[OsStr::new("--by"), OsStr::new("type")]);
    cli::assert_exit(&out, 0);
    let json: ByType = cli::parse_json(&out, "heap --by type");
    assert_eq!(json.allocator, format!("{malloc:?}").to_lowercase());
    let row = |name: &str| {
        json.types
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no type {name} in {:#?}", json.types))
    };
    for (name, _, _) in CLASSES {
        let r = row(name);
        assert_eq!(r.kind, "vtable", "{name}");
        run.assert_class_row(name, r.count, r.bytes);
        assert!(r.example.starts_with("0x"));
    }
    // Largest first.
    assert!(json.types.windows(2).all(|w| w[0].bytes >= w[1].bytes));
}

#[test]
fn classes_counted_by_vtable_on_glibc() {
    by_type(Malloc::Glibc);
}

#[test]
fn classes_counted_by_vtable_on_jemalloc() {
    by_type(Malloc::Jemalloc);
}

fn explain_anchored(malloc: Malloc) {
    let Some(run) = objects(malloc) else { return };
    let session = run.address("session2");
    let buffer = run.address("sessions_data");
    // An address inside the object (its `n` member) explains the whole object.
    let json = explain_json(&run, format!("{:#x}", session + 8));
    assert_eq!(parse_hex(&json.allocation.address).unwrap(), session);
    assert_eq!(json.allocation.state, "used");
    assert_eq!(json.allocation.type_name.as_deref(), Some("app::Session"));
    assert!(json.allocation.size >= run.count("sizeof_session"));
    assert!(
        json.incoming
            .iter()
            .any(|i| parse_hex(&i.holder) == Some(buffer) && i.offset == 16),
        "the vector's buffer holds g_sessions[2] at offset 16: {:#?}",
        json.incoming
    );
    assert!(json.anchored);
    let chain = &json.anchor_chain;
    assert_eq!(chain.len(), 3, "{chain:#?}");
    assert_eq!(chain[0].kind, "static", "{chain:#?}");
    assert!(
        chain[0]
            .symbol
            .as_deref()
            .is_some_and(|s| s.contains("!g_sessions")),
        "{chain:#?}"
    );
    assert_eq!(chain[1].kind, "allocation");
    assert_eq!(
        chain[1].address.as_deref().and_then(parse_hex),
        Some(buffer)
    );
    assert_eq!(chain[1].offset, Some(16));
    assert_eq!(
        chain[2].address.as_deref().and_then(parse_hex),
        Some(session)
    );
    assert_eq!(chain[2].type_name.as_deref(), Some("app::Session"));

    let text = explain(&run, &format!("{session:#x}"));
    cli::assert_exit(&text, 0);
    assert!(
        text.stdout_str().contains("app::Session"),
        "{}",
        text.describe()
    );
    assert!(
        text.stdout_str().contains("g_sessions"),
        "{}",
        text.describe()
    );
}

#[test]
fn explain_anchors_a_session_through_the_global_vector_on_glibc() {
    explain_anchored(Malloc::Glibc);
}

#[test]
fn explain_anchors_a_session_through_the_global_vector_on_jemalloc() {
    explain_anchored(Malloc::Jemalloc);
}

fn explain_stack_roots(malloc: Malloc, compiler: Compiler) {
    let Some(run) = objects_built(malloc, compiler) else {
        return;
    };
    if !require("gdb", "gdb") {
        return;
    }
    let gdb = GdbRun {
        exe: Some(run.exe.clone()),
        ..GdbRun::default()
    };
    let thread = gdb.on(&run.core).crashing().clone();
    // Which object, held by which function's frame (the fixture's source says so).
    for (key, function) in [("job", "hold_job"), ("timer3", "main")] {
        let object = run.address(key);
        let json = explain_json(&run, format!("{object:#x}"));
        let chain = &json.anchor_chain;
        assert!(json.anchored, "{key}: {chain:#?}");
        assert_eq!(chain.len(), 2, "{key}: held by a stack word: {chain:#?}");
        assert_eq!(
            chain[1].address.as_deref().and_then(parse_hex),
            Some(object)
        );
        let root = &chain[0];
        assert_eq!(root.kind, "stack", "{key}: {chain:#?}");
        let word = root
            .address
            .as_deref()
            .and_then(parse_hex)
            .expect("a root address");
        assert_eq!(root.thread, Some(thread.tid), "{key}: {chain:#?}");
        let frame = thread
            .frames
            .iter()
            .find(|f| f.function == function)
            .unwrap_or_else(|| panic!("gdb shows no frame of {function}: {thread:#?}"));
        let variables = gdb.frame_variables(&run.core, frame.level);
        let variable = variables
            .iter()
            .find(|v| v.address <= word && word - v.address < v.size)
            .unwrap_or_else(|| {
                panic!("gdb: no variable of {function} holds {word:#x}: {variables:#?}")
            });
        // gdb prints a function without its parameters; ours may carry them (clang gives
        // a static C++ function only its linkage name, `_ZL8hold_jobv`: `hold_job()`).
        assert_eq!(
            root.frame.as_deref().and_then(|f| f.split('(').next()),
            Some(frame.function.as_str()),
            "{key}"
        );
        assert_eq!(
            root.variable.as_deref(),
            Some(variable.name.as_str()),
            "{key}: {chain:#?}"
        );
    }

    let job = run.address("job");
    let text = explain(&run, &format!("{job:#x}"));
    cli::assert_exit(&text, 0);
    assert!(
        text.stdout_str().contains("(variable pending)"),
        "{}",
        text.describe()
    );
}

#[test]
fn explain_names_the_local_variable_of_a_stack_root_on_glibc() {
    explain_stack_roots(Malloc::Glibc, Compiler::Gcc);
}

#[test]
fn explain_names_the_local_variable_of_a_stack_root_on_jemalloc() {
    explain_stack_roots(Malloc::Jemalloc, Compiler::Gcc);
}

/// clang's frame base is the frame pointer (`DW_OP_reg6`), not GCC's call frame address.
#[test]
fn explain_names_the_local_variable_of_a_stack_root_built_with_clang() {
    explain_stack_roots(Malloc::Glibc, Compiler::Clang);
}

fn explain_leaked_and_bad_addresses(malloc: Malloc) {
    let Some(run) = objects(malloc) else { return };
    let leaked = run.address("leaked0");
    let json = explain_json(&run, format!("{leaked:#x}"));
    assert_eq!(json.allocation.type_name.as_deref(), Some("Connection"));
    assert!(!json.anchored, "a dropped pointer anchors nothing");
    assert!(json.anchor_chain.is_empty());

    // Not in the core: a one-line answer, exit 1.
    let out = explain(&run, "0x10");
    cli::assert_exit(&out, 1);
    cli::assert_one_line_error(&out);
    assert!(
        out.stderr_str().contains("not in the core"),
        "{}",
        out.describe()
    );
    // Not an address: bad usage, exit 2.
    let out = explain(&run, "zzz");
    cli::assert_exit(&out, 2);
    assert!(
        out.stderr_str().contains("not a hex address"),
        "{}",
        out.describe()
    );
}

#[test]
fn explain_says_a_leaked_object_is_anchored_by_nothing_on_glibc() {
    explain_leaked_and_bad_addresses(Malloc::Glibc);
}

#[test]
fn explain_says_a_leaked_object_is_anchored_by_nothing_on_jemalloc() {
    explain_leaked_and_bad_addresses(Malloc::Jemalloc);
}

/// `leaks --format json`: groups carry the type of their blocks.
#[derive(Debug, Deserialize)]
struct Leaks {
    direct_count: u64,
    groups: Vec<LeakGroup>,
}

#[derive(Debug, Deserialize)]
struct LeakGroup {
    count: u64,
    direct: u64,
    #[serde(rename = "type")]
    type_name: Option<String>,
}

fn leaks_by_type(malloc: Malloc) {
    let Some(run) = objects(malloc) else { return };
    let out = cli::json_of("leaks", &run.core, &[]);
    cli::assert_no_panic(&out);
    assert!(matches!(out.code(), Some(0 | 1)), "{}", out.describe());
    let json: Leaks = cli::parse_json(&out, "leaks");
    let group = json
        .groups
        .iter()
        .find(|g| g.type_name.as_deref() == Some("Connection"))
        .unwrap_or_else(|| panic!("no Connection group: {:#?}", json.groups));
    assert_eq!(group.count, run.count("leaked"));
    assert_eq!(group.direct, run.count("leaked"));
    assert!(json.direct_count >= run.count("leaked"));
    // Held objects are not leaks.
    assert!(!json.groups.iter().any(|g| matches!(
        g.type_name.as_deref(),
        Some("app::Session" | "app::Timer" | "Request" | "Job")
    )));
}

#[test]
fn leaks_are_grouped_by_type_on_glibc() {
    leaks_by_type(Malloc::Glibc);
}

#[test]
fn leaks_are_grouped_by_type_on_jemalloc() {
    leaks_by_type(Malloc::Jemalloc);
}
