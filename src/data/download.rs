//! Fetches the standard MNIST files when they are missing, verifies each against its known
//! SHA-256 and moves it into place only then, so a failed or corrupt download leaves nothing.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::files::{self, DataFile, FILES};
use super::idx;
use super::kind::DatasetKind;
use crate::artifacts::{Temporary, remove_leftovers_for, sync_dir};

/// The largest MNIST file is under 10 MB; anything much larger is not MNIST.
const MAX_DOWNLOAD_BYTES: u64 = 64 << 20;

#[derive(Debug, Error)]
pub enum DownloadError {
    #[error(
        "cannot download {url}: {reason}; without network access, put the four MNIST files ({files}) into '{}' yourself, or set data.url to a mirror you can reach",
        dir.display()
    )]
    Fetch {
        url: String,
        reason: String,
        dir: PathBuf,
        files: String,
    },
    #[error(
        "{url} is not the original MNIST file (sha256 {got}, expected {expected}); nothing was saved; set data.url to a mirror of the original files"
    )]
    Checksum {
        url: String,
        got: String,
        expected: &'static str,
    },
    #[error(
        "{url} is not a {dataset} file ({reason}); nothing was saved; set data.url to a mirror of the original files"
    )]
    NotIdx {
        url: String,
        dataset: DatasetKind,
        reason: String,
    },
    #[error(
        "cannot write into data directory '{}': {source}; set data.dir to a folder you can write to",
        dir.display()
    )]
    Write {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Downloads each of the four files that `dir` lacks (neither `name.gz` nor `name` present)
/// from `base_url`. Returns the names of the files it fetched. MNIST files must match their
/// published SHA-256; for Fashion-MNIST, whose checksums this program does not carry, each file
/// must read as a whole IDX file of the expected kind and count.
pub fn download_missing(
    dir: &Path,
    base_url: &str,
    dataset: DatasetKind,
) -> Result<Vec<String>, DownloadError> {
    let missing: Vec<&DataFile> = FILES
        .iter()
        .filter(|file| files::present(dir, file.stem).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(dir).map_err(|source| DownloadError::Write {
        dir: dir.to_owned(),
        source,
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    for file in &missing {
        let download = Download {
            url: format!("{}/{}", base_url.trim_end_matches('/'), file.gz_name()),
            dir,
            file,
            dataset,
        };
        download.run(&agent)?;
    }
    Ok(missing.iter().map(|file| file.gz_name()).collect())
}

/// One file to download into `dir` and check before it is kept.
struct Download<'a> {
    url: String,
    dir: &'a Path,
    file: &'a DataFile,
    dataset: DatasetKind,
}

impl Download<'_> {
    /// Fetches the file into a temporary sibling, checks it, and only then renames it into
    /// place: a failed or corrupt download leaves nothing.
    fn run(&self, agent: &ureq::Agent) -> Result<(), DownloadError> {
        let name = self.file.gz_name();
        // A download a killed process left half done.
        remove_leftovers_for(&self.dir.join(&name), ".part");
        let (mut part, bytes, sha256) = self.fetch(agent, &name)?;
        self.check(&part, bytes, &sha256)?;
        part.file_mut()
            .sync_all()
            .map_err(|e| self.write_error(e))?;
        part.persist(&self.dir.join(&name))
            .map_err(|e| self.write_error(e))?;
        sync_dir(self.dir).map_err(|e| self.write_error(e))
    }

    /// Streams the body into a temporary file beside `name`, made once the server answers: the
    /// file, its size (reading stops past the largest file MNIST has) and its SHA-256.
    fn fetch(
        &self,
        agent: &ureq::Agent,
        name: &str,
    ) -> Result<(Temporary, u64, String), DownloadError> {
        let response = agent
            .get(&self.url)
            .call()
            .map_err(|e| self.fetch_error(e.to_string()))?;
        let mut body = response
            .into_body()
            .into_reader()
            .take(MAX_DOWNLOAD_BYTES + 1);
        // In `dir`, so that the final rename cannot cross file systems; deleted on every early
        // return.
        let mut part = Temporary::new(self.dir, name, ".part").map_err(|e| self.write_error(e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.fetch_error(e.to_string())),
            };
            total += n as u64;
            hasher.update(&buffer[..n]);
            part.file_mut()
                .write_all(&buffer[..n])
                .map_err(|e| self.write_error(e))?;
        }
        part.file_mut().flush().map_err(|e| self.write_error(e))?;
        Ok((part, total, format!("{:x}", hasher.finalize())))
    }

    /// MNIST's files against their published SHA-256; Fashion-MNIST's read back as whole IDX
    /// files of their kind and count.
    fn check(&self, part: &Temporary, bytes: u64, sha256: &str) -> Result<(), DownloadError> {
        if self.dataset == DatasetKind::Mnist {
            let expected = self.file.mnist_sha256;
            if bytes > MAX_DOWNLOAD_BYTES || sha256 != expected {
                return Err(DownloadError::Checksum {
                    url: self.url.clone(),
                    got: sha256.to_owned(),
                    expected,
                });
            }
            return Ok(());
        }
        let not_idx = |reason: String| DownloadError::NotIdx {
            url: self.url.clone(),
            dataset: self.dataset,
            reason,
        };
        if bytes > MAX_DOWNLOAD_BYTES {
            return Err(not_idx(format!("larger than {MAX_DOWNLOAD_BYTES} bytes")));
        }
        let items = if self.file.labels {
            idx::read_labels_file(part.path()).map(|labels| labels.len())
        } else {
            idx::read_images_file(part.path()).map(|images| images.len())
        }
        .map_err(|e| not_idx(e.to_string()))?;
        let count = self.file.part.images();
        if items != count {
            return Err(not_idx(format!("{items} items, expected {count}")));
        }
        Ok(())
    }

    fn fetch_error(&self, reason: String) -> DownloadError {
        DownloadError::Fetch {
            url: self.url.clone(),
            reason,
            dir: self.dir.to_owned(),
            files: FILES.map(|file| file.gz_name()).join(", "),
        }
    }

    fn write_error(&self, source: io::Error) -> DownloadError {
        DownloadError::Write {
            dir: self.dir.to_owned(),
            source,
        }
    }
}
