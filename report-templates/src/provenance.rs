//! Provenance: input files with their sizes and hashes, the tool and the time.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::model::{InputFile, Provenance};

impl InputFile {
    /// Reads the file once to hash it (SHA-256, streamed: a core of many GiB is never held in
    /// memory).
    pub fn of_path(path: &Path, role: &str) -> io::Result<InputFile> {
        let mut file = File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        let digest = hasher.finalize();
        let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(InputFile {
            path: path.display().to_string(),
            role: role.to_string(),
            size,
            sha256,
        })
    }
}

impl Provenance {
    /// Provenance stamped now, by this tool.
    pub fn now(tool: impl Into<String>, inputs: Vec<InputFile>) -> Provenance {
        Provenance {
            inputs,
            tool: tool.into(),
            generated: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            command_line: None,
        }
    }

    /// Provenance stamped now, by this tool, with the command line this process was
    /// started with.
    pub fn of_this_run(tool: impl Into<String>, inputs: Vec<InputFile>) -> Provenance {
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Provenance {
            command_line: Some(args.join(" ")),
            ..Provenance::now(tool, inputs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        let dir = std::env::temp_dir().join(format!("hm-prov-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let f = InputFile::of_path(&p, "profile").unwrap();
        assert_eq!(f.size, 3);
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            f.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
