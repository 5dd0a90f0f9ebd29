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
//! glibc malloc, against Debian's libjemalloc (5.3) and against Debian's libtcmalloc
//! (gperftools 2.10), so every walker feeds the same allocator-neutral passes; with tcmalloc
//! the program also writes what `tc_malloc_size` says of two objects (their size class) and
//! the address of a block it freed last, which the thread's cache holds.

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
    Tcmalloc,
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
        .or_insert_with(|| workload("objects", malloc, compiler))
        .clone()
}

/// Builds `tests/fixtures/types/NAME.cpp` (`-O0 -g` with `compiler`, with `-ljemalloc` for
/// jemalloc), runs it to its core and reads the `NAME.truth` it wrote (`key value` lines).
fn workload(name: &str, malloc: Malloc, compiler: Compiler) -> Option<Run> {
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
    if malloc == Malloc::Tcmalloc && !crate::heap_tcmalloc::have_tcmalloc() {
        return None;
    }
    let dir = unique_dir(&format!("{name}-{malloc:?}-{compiler:?}"));
    let exe = dir.join(name);
    let mut cc = Command::new(program);
    cc.args(["-O0", "-g"])
        .arg(repo_root().join(format!("tests/fixtures/types/{name}.cpp")))
        .arg("-o")
        .arg(&exe);
    match malloc {
        Malloc::Glibc => {}
        Malloc::Jemalloc => {
            cc.arg("-ljemalloc");
        }
        Malloc::Tcmalloc => {
            cc.args(["-DWITH_TCMALLOC", "-ltcmalloc"]);
        }
    }
    run(&mut cc, Duration::from_secs(180)).expect_success(&format!("compiling {name}.cpp"));
    let core = abort_core(&exe, &[], &[], &dir);
    let text = std::fs::read_to_string(dir.join(format!("{name}.truth")))
        .unwrap_or_else(|e| panic!("the workload wrote no {name}.truth: {e}"));
    let truth = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Run { exe, core, truth })
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

/// On tcmalloc the explained size is the object's size class, as `tc_malloc_size` gave it
/// in the process.
#[test]
fn explain_anchors_a_session_through_the_global_vector_on_tcmalloc() {
    explain_anchored(Malloc::Tcmalloc);
    let Some(run) = objects(Malloc::Tcmalloc) else {
        return;
    };
    for (key, usable) in [("session2", "usable_session2"), ("job", "usable_job")] {
        let json = explain_json(&run, format!("{:#x}", run.address(key)));
        assert_eq!(json.allocation.size, run.count(usable), "{key}");
        assert_eq!(json.allocation.state, "used", "{key}");
    }
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
fn explain_names_the_local_variable_of_a_stack_root_on_tcmalloc() {
    explain_stack_roots(Malloc::Tcmalloc, Compiler::Gcc);
}

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

/// On tcmalloc also a block the program freed last (in its thread's cache), a large one it
/// freed back to the page heap, and a global: one line each, exit 1 (DESIGN.md: the input
/// could be read only in part — here, the address has no allocation to explain).
#[test]
fn explain_says_a_leaked_object_is_anchored_by_nothing_on_tcmalloc() {
    explain_leaked_and_bad_addresses(Malloc::Tcmalloc);
    let Some(run) = objects(Malloc::Tcmalloc) else {
        return;
    };
    let freed = run.address("freed");
    // Inside the block, past the free list's link tcmalloc writes in its first word.
    let out = explain(&run, &format!("{:#x}", freed + 16));
    cli::assert_exit(&out, 1);
    cli::assert_one_line_error(&out);
    let said = out.stderr_str();
    assert!(
        said.contains(&format!(
            "is in a tcache block of {} bytes at {freed:#x}",
            run.count("usable_freed")
        )) && said.contains("the program freed it"),
        "{}",
        out.describe()
    );
    // The large block's span, free in the page heap (merged with its free neighbours, if
    // any: it starts at or before the block).
    let large = run.address("freed_large");
    let out = explain(&run, &format!("{:#x}", large + 4096));
    cli::assert_exit(&out, 1);
    cli::assert_one_line_error(&out);
    let said = out.stderr_str();
    let start = said
        .split(" bytes at ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(parse_hex)
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(
        said.contains("is in a free block of ")
            && said.contains("the program freed it")
            && start <= large,
        "{}",
        out.describe()
    );
    let global = run.address("global");
    let out = explain(&run, &format!("{global:#x}"));
    cli::assert_exit(&out, 1);
    cli::assert_one_line_error(&out);
    assert!(
        out.stderr_str().contains("is not in any allocation ("),
        "{}",
        out.describe()
    );
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

/// `heap --by type --format json` of a core: count per type name and kind.
fn type_counts(core: &std::path::Path) -> HashMap<String, (String, u64, u64)> {
    let out = cli::json_of("heap", core, &[OsStr::new("--by"), OsStr::new("type")]);
    cli::assert_no_panic(&out);
    assert!(matches!(out.code(), Some(0 | 1)), "{}", out.describe());
    let json: ByType = cli::parse_json(&out, "heap --by type");
    json.types
        .into_iter()
        .map(|t| (t.name, (t.kind, t.count, t.bytes)))
        .collect()
}

fn container_parts(malloc: Malloc) {
    let Some(run) = workload("containers", malloc, Compiler::Gcc) else {
        return;
    };
    let types = type_counts(&run.core);
    for (name, key) in [
        ("std::string data", "strings"),
        ("std::vector data", "vectors"),
        ("std::list node", "list_nodes"),
        ("std::map/set node", "tree_nodes"),
        ("std::unordered_map/set node", "hash_nodes"),
        ("std::unordered_map/set buckets", "hash_buckets"),
        ("std::deque map", "deque_maps"),
        ("std::deque block", "deque_blocks"),
    ] {
        let (kind, count, _) = types
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {types:#?}"));
        assert_eq!(kind, "pattern", "{name}");
        assert_eq!(*count, run.count(key), "{name}: what the program holds");
    }
}

#[test]
fn container_parts_are_named_by_how_they_are_linked_on_glibc() {
    container_parts(Malloc::Glibc);
}

#[test]
fn container_parts_are_named_by_how_they_are_linked_on_jemalloc() {
    container_parts(Malloc::Jemalloc);
}

/// The allocations chap's `describe used %PATTERN` lists, by address.
fn chap_described(rel: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(crate::harness::corpus::path(rel)).expect("chap's output");
    text.lines()
        .filter_map(|l| l.strip_prefix("Anchored allocation at "))
        .filter_map(|l| l.split_whitespace().next())
        .map(|a| u64::from_str_radix(a, 16).expect("a hex address"))
        .collect()
}

/// `heap --list used --format json` entries of one type.
fn listed_of_type(core: &std::path::Path, name: &str) -> Vec<u64> {
    #[derive(Deserialize)]
    struct Listed {
        allocations: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        address: String,
        #[serde(rename = "type")]
        type_name: Option<String>,
    }
    let args = [OsStr::new("--list"), OsStr::new("used")];
    let out = cli::json_of("heap", core, &args);
    assert!(matches!(out.code(), Some(0 | 1)), "{}", out.describe());
    let json: Listed = cli::parse_json(&out, "heap --list used");
    let mut found: Vec<u64> = json
        .allocations
        .iter()
        .filter(|e| e.type_name.as_deref() == Some(name))
        .map(|e| parse_hex(&e.address).expect("a hex address"))
        .collect();
    found.sort_unstable();
    found
}

#[test]
fn chaps_long_strings_are_std_string_data() {
    let core = crate::harness::corpus::file("cores/chap/LongStringTest/core.26368.xz");
    let mut chap = chap_described("cores/chap/LongStringTest/core.26368.describe_used_%LongString");
    chap.sort_unstable();
    assert_eq!(chap.len(), 4, "chap's own file");
    assert_eq!(listed_of_type(&core, "std::string data"), chap);
}

#[test]
fn chaps_map_and_set_nodes_are_std_map_set_nodes() {
    let core = crate::harness::corpus::file("cores/chap/MapOrSetPatternTest/core.59709.xz");
    let mut chap =
        chap_described("cores/chap/MapOrSetPatternTest/core.59709.describe_used_%MapOrSetNode");
    chap.sort_unstable();
    assert_eq!(chap.len(), 111, "chap's own file");
    assert_eq!(listed_of_type(&core, "std::map/set node"), chap);
}

/// chap's `summarize used` names classes with `_` for spaces, no space after commas, before
/// a parameter list, or between closing angle brackets.
fn as_chap_prints(name: &str) -> String {
    let mut name = name.replace(", ", ",").replace(" (", "(");
    while name.contains("> >") {
        name = name.replace("> >", ">>");
    }
    name.replace(' ', "_")
}

#[test]
fn chaps_unmangling_test_classes_and_vector() {
    let core = crate::harness::corpus::file("cores/chap/UnmanglingTest/core.26735.xz");
    let text = std::fs::read_to_string(crate::harness::corpus::path(
        "cores/chap/UnmanglingTest/core.26735.summarize_used",
    ))
    .expect("chap's output");
    // `Signature 401350 (NAME) has 1 instances taking 0xd8(216) bytes.`
    let mut chap: Vec<(String, u64, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Signature "))
        .map(|l| {
            let name = &l[l.find('(').expect("(") + 1..l.rfind(") has ").expect(") has")];
            let count: u64 = l[l.rfind(") has ").expect("has") + 6..]
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a count");
            let bytes: u64 = l[l.rfind('(').expect("(") + 1..l.rfind(')').expect(")")]
                .parse()
                .expect("bytes");
            (name.to_string(), count, bytes)
        })
        .collect();
    chap.sort();
    assert_eq!(chap.len(), 5, "chap's own file");
    let types = type_counts(&core);
    let mut ours: Vec<(String, u64, u64)> = types
        .iter()
        .filter(|(_, (kind, _, _))| kind == "vtable")
        .map(|(name, (_, count, bytes))| (as_chap_prints(name), *count, *bytes))
        .collect();
    ours.sort();
    assert_eq!(ours, chap);
    // `Pattern %VectorBody has 1 instances taking 0x48(72) bytes.`
    assert!(text.contains("Pattern %VectorBody has 1 instances taking 0x48(72) bytes."));
    let (kind, count, bytes) = &types["std::vector data"];
    assert_eq!((kind.as_str(), *count, *bytes), ("pattern", 1, 72));
}

#[test]
fn a_c_program_gets_no_invented_types() {
    // leaky.c: lists and buffers of a C program, and a FILE's buffer in the C library.
    let Some(run) = crate::leaks::leaky() else {
        return;
    };
    let types = type_counts(&run.core);
    let invented: Vec<_> = types
        .iter()
        .filter(|(_, (kind, _, _))| kind != "unknown")
        .collect();
    assert!(invented.is_empty(), "{invented:#?}");
}
