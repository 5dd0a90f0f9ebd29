//! Executables and debug files fetched by build-id from debuginfod servers.
//!
//! The servers are those of `DEBUGINFOD_URLS` (space-separated, as gdb and elfutils read it);
//! a file is asked for as `URL/buildid/HEX/executable` or `URL/buildid/HEX/debuginfo` (the
//! protocol of elfutils' debuginfod(8)) only when no local file with that build-id was found.
//! Fetched files go where elfutils' client keeps them (elfutils 0.188,
//! debuginfod/debuginfod-client.c): `$DEBUGINFOD_CACHE_PATH`, else
//! `$XDG_CACHE_HOME/debuginfod_client`, else `~/.cache/debuginfod_client`, as
//! `CACHE/HEX/executable` and `CACHE/HEX/debuginfo` — so a file gdb fetched is found here
//! without the network, and the other way round. An empty file there is elfutils' record
//! that no server had it; it is believed for `CACHE/cache_miss_s` seconds (600 by default),
//! as elfutils does.
//!
//! A server that cannot be reached is said once (a [`Diagnostic`]) and not asked again in
//! this run: with every server down the results are those without any.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use crate::{BuildId, Diagnostic};

/// Where a module's file or debug file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// Found on this machine: the recorded path (under `--sysroot`), `--exe`, or a debug
    /// folder.
    Local,
    /// From a debuginfod server: fetched now from `url`, or (`url` `None`) found in the
    /// debuginfod cache, fetched by an earlier run of heapmortem, gdb or elfutils.
    Debuginfod {
        /// The URL it was fetched from in this run.
        url: Option<String>,
    },
}

/// What to ask a server for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Executable,
    DebugInfo,
}

impl Kind {
    /// The last component of the request, which is also the file's name in the cache.
    fn name(self) -> &'static str {
        match self {
            Kind::Executable => "executable",
            Kind::DebugInfo => "debuginfo",
        }
    }
}

/// A client over some servers and the shared cache.
pub struct Debuginfod {
    urls: Vec<String>,
    cache: PathBuf,
    timeout: Duration,
    agent: OnceLock<ureq::Agent>,
    /// Servers that could not be reached, and what was said about them.
    down: Mutex<Vec<(String, Diagnostic)>>,
}

impl fmt::Debug for Debuginfod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debuginfod")
            .field("urls", &self.urls)
            .field("cache", &self.cache)
            .finish()
    }
}

impl Debuginfod {
    /// The servers of `DEBUGINFOD_URLS`, space-separated as gdb and elfutils read it (empty
    /// when it is unset): what [`Options::debuginfod_urls`](crate::Options) takes.
    pub fn urls_from_env() -> Vec<String> {
        std::env::var("DEBUGINFOD_URLS")
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(|u| u.trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// A client for `urls` with elfutils' cache and timeout (`DEBUGINFOD_TIMEOUT` seconds,
    /// 90 by default, for connecting and for each wait on the server); `None` without
    /// servers or without a cache folder.
    pub(crate) fn new(urls: &[String]) -> Option<Debuginfod> {
        if urls.is_empty() {
            return None;
        }
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let cache = env("DEBUGINFOD_CACHE_PATH")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("debuginfod_client")))
            .or_else(|| env("HOME").map(|d| d.join(".cache/debuginfod_client")))?;
        let timeout = std::env::var("DEBUGINFOD_TIMEOUT")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(90);
        Some(Debuginfod {
            urls: urls.to_vec(),
            cache,
            timeout: Duration::from_secs(timeout),
            agent: OnceLock::new(),
            down: Mutex::new(Vec::new()),
        })
    }

    /// What was said about servers that could not be reached, one diagnostic each.
    pub(crate) fn diagnostics(&self) -> Vec<Diagnostic> {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.iter().map(|(_, d)| d.clone()).collect()
    }

    /// The file of `kind` for `id`: from the cache, else fetched into it from the first
    /// server that has it. Callers check the file's build-id before using it.
    pub(crate) fn fetch(&self, id: &BuildId, kind: Kind) -> Option<(PathBuf, FileSource)> {
        if id.0.is_empty() {
            return None;
        }
        let hex = id.to_string();
        let dir = self.cache.join(&hex);
        let target = dir.join(kind.name());
        if let Ok(meta) = std::fs::metadata(&target) {
            if meta.len() > 0 {
                return Some((target, FileSource::Debuginfod { url: None }));
            }
            if self.miss_is_fresh(&meta) {
                return None;
            }
        }
        for server in &self.urls {
            let url = format!("{server}/buildid/{hex}/{}", kind.name());
            if self.is_down(server) {
                continue;
            }
            match self.download(&url, &dir, &target) {
                Ok(true) => return Some((target, FileSource::Debuginfod { url: Some(url) })),
                Ok(false) => {}
                Err(e) => self.mark_down(server, &e),
            }
        }
        None
    }

    /// Whether elfutils' record of a miss (an empty file) is younger than `cache_miss_s`.
    fn miss_is_fresh(&self, meta: &std::fs::Metadata) -> bool {
        let miss_s = std::fs::read_to_string(self.cache.join("cache_miss_s"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(600u64);
        meta.modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < Duration::from_secs(miss_s))
    }

    fn is_down(&self, server: &str) -> bool {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.iter().any(|(s, _)| s == server)
    }

    fn mark_down(&self, server: &str, error: &ureq::Error) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if !down.iter().any(|(s, _)| s == server) {
            down.push((
                server.to_string(),
                Diagnostic::new(
                    "debuginfod_unreachable",
                    format!(
                        "debuginfod server {server} could not be reached ({error}): files \
                         missing here were not fetched from it"
                    ),
                ),
            ));
        }
    }

    /// GETs `url` into `target` (through a temporary file in `dir`, renamed when whole, so
    /// gdb never sees half a file). `Ok(false)`: the server answered without the file.
    fn download(&self, url: &str, dir: &Path, target: &Path) -> Result<bool, ureq::Error> {
        let agent = self.agent.get_or_init(|| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(self.timeout))
                .timeout_recv_response(Some(self.timeout))
                .timeout_recv_body(Some(self.timeout))
                .user_agent(concat!("heapmortem/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        });
        let mut response = agent.get(url).call()?;
        if !response.status().is_success() {
            return Ok(false);
        }
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::Builder::new()
            .prefix(&format!(
                "{}.",
                target.file_name().unwrap_or_default().to_string_lossy()
            ))
            .tempfile_in(dir)?;
        let written = io::copy(&mut response.body_mut().as_reader(), &mut file)?;
        file.flush()?;
        if written == 0 {
            return Ok(false);
        }
        file.persist(target).map_err(|e| e.error)?;
        Ok(true)
    }
}
