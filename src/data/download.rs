//! Fetches the standard MNIST files when they are missing, verifies each against its known
//! SHA-256 and moves it into place only then, so a failed or corrupt download leaves nothing.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::idx;
use super::kind::DatasetKind;
use super::mnist::{MNIST_FILE_STEMS, find_file};
use crate::artifacts::{Temporary, remove_leftovers_for, sync_dir};

/// SHA-256 of the four original `.gz` files, as published with the LeCun distribution.
pub const MNIST_SHA256: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
];

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
) -> Result<Vec<&'static str>, DownloadError> {
    let missing: Vec<_> = MNIST_SHA256
        .iter()
        .zip(MNIST_FILE_STEMS)
        .filter(|(_, stem)| find_file(dir, stem).is_err())
        .map(|(file, _)| *file)
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let write_error = |source| DownloadError::Write {
        dir: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(write_error)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    for &(name, sha256) in &missing {
        let url = format!("{}/{name}", base_url.trim_end_matches('/'));
        let expected = match dataset {
            DatasetKind::Mnist => Expected::Sha256(sha256),
            DatasetKind::FashionMnist => Expected::Idx(dataset),
        };
        fetch_verified(&agent, &url, dir, name, expected)?;
    }
    Ok(missing.iter().map(|(name, _)| *name).collect())
}

/// How a downloaded file is checked before it is moved into place.
#[derive(Clone, Copy)]
enum Expected {
    Sha256(&'static str),
    /// Read as IDX: right kind, 28x28, labels 0-9, 60,000 or 10,000 items.
    Idx(DatasetKind),
}

fn fetch_verified(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    name: &str,
    expected: Expected,
) -> Result<(), DownloadError> {
    let fetch_error = |reason: String| DownloadError::Fetch {
        url: url.to_owned(),
        reason,
        dir: dir.to_owned(),
        files: MNIST_SHA256.map(|(file, _)| file).join(", "),
    };
    let write_error = |source| DownloadError::Write {
        dir: dir.to_owned(),
        source,
    };
    let response = agent
        .get(url)
        .call()
        .map_err(|e| fetch_error(e.to_string()))?;
    let mut body = response
        .into_body()
        .into_reader()
        .take(MAX_DOWNLOAD_BYTES + 1);

    // The temporary file lives in `dir` so the final rename cannot cross file systems; it is
    // deleted on every early return.
    // A download a killed process left half done.
    remove_leftovers_for(&dir.join(name), ".part");
    let mut file = Temporary::new(dir, name, ".part").map_err(write_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fetch_error(e.to_string())),
        };
        total += n as u64;
        hasher.update(&buffer[..n]);
        file.file_mut()
            .write_all(&buffer[..n])
            .map_err(write_error)?;
    }
    let got = format!("{:x}", hasher.finalize());
    match expected {
        Expected::Sha256(sha256) if total > MAX_DOWNLOAD_BYTES || got != sha256 => {
            return Err(DownloadError::Checksum {
                url: url.to_owned(),
                got,
                expected: sha256,
            });
        }
        Expected::Sha256(_) => {}
        Expected::Idx(dataset) => {
            file.file_mut().flush().map_err(write_error)?;
            let not_idx = |reason: String| DownloadError::NotIdx {
                url: url.to_owned(),
                dataset,
                reason,
            };
            if total > MAX_DOWNLOAD_BYTES {
                return Err(not_idx(format!("larger than {MAX_DOWNLOAD_BYTES} bytes")));
            }
            let count = if name.starts_with("train") {
                60_000
            } else {
                10_000
            };
            let items = if name.contains("labels") {
                idx::read_labels_file(file.path()).map(|labels| labels.len())
            } else {
                idx::read_images_file(file.path()).map(|images| images.len())
            }
            .map_err(|e| not_idx(e.to_string()))?;
            if items != count {
                return Err(not_idx(format!("{items} items, expected {count}")));
            }
        }
    }
    file.file_mut().sync_all().map_err(write_error)?;
    file.persist(&dir.join(name)).map_err(write_error)?;
    sync_dir(dir).map_err(write_error)
}
