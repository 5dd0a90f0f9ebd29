//! End-to-end tests, one binary with a module per topic (see STYLE.md).

mod harness;

mod aarch64;
mod capture;
mod corpus;
mod debuginfod;
mod diff;
mod freebsd;
mod heap_glibc;
mod heap_jemalloc;
mod heap_tcmalloc;
mod help;
mod info;
mod inputs;
mod leaks;
mod profile;
mod report;
mod sites;
mod threads;
mod traces;
mod truncated;
mod types;
