//! Sealed records: Burn's named MessagePack at full precision, followed by a checksum, written
//! atomically. The model file and every checkpoint are written and read here.

use std::io::{self, Write as _};
use std::path::Path;

use burn::module::{EmptyRecord, Module};
use burn::nn::Linear;
use burn::prelude::Backend;
use burn::record::{
    BurnRecord, FullPrecisionSettings, NamedMpkBytesRecorder, Recorder, RecorderError,
};
use sha2::{Digest, Sha256};

use crate::artifacts::{ArtifactError, write_atomic};
use crate::model::{AutoencoderRecordItem, DenseAutoencoderRecordItem};

pub(crate) fn recorder() -> NamedMpkBytesRecorder<FullPrecisionSettings> {
    NamedMpkBytesRecorder::default()
}

/// Marks the end of a record this program wrote: `SEAL_MAGIC` then the SHA-256 of what comes
/// before. MessagePack readers (Burn's `NamedMpkFileRecorder` too) stop after the record and
/// never see it; a truncated or altered file fails the check instead of loading wrong weights.
const SEAL_MAGIC: &[u8; 8] = b"MNAE-SHA";
const SEAL_LEN: usize = SEAL_MAGIC.len() + 32;

/// `payload` followed by its seal.
fn seal(mut payload: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&payload);
    payload.extend_from_slice(SEAL_MAGIC);
    payload.extend_from_slice(&digest);
    payload
}

/// The payload of a sealed file, if the seal is there and matches.
pub(crate) fn unseal(bytes: &[u8]) -> Result<&[u8], String> {
    let body_len = bytes.len().checked_sub(SEAL_LEN).ok_or_else(|| {
        format!(
            "only {} bytes, too short to be a record (truncated?)",
            bytes.len()
        )
    })?;
    let (payload, seal) = bytes.split_at(body_len);
    if &seal[..SEAL_MAGIC.len()] != SEAL_MAGIC {
        return Err("it does not end with this program's checksum (truncated, or written by something else)".to_owned());
    }
    if Sha256::digest(payload).as_slice() != &seal[SEAL_MAGIC.len()..] {
        return Err(
            "its checksum does not match its contents (the file was altered or damaged)".to_owned(),
        );
    }
    Ok(payload)
}

/// The tutorial's model as versions before `model.kind` kept it: its two layers at the top.
/// Only its record is read (never the module itself).
#[allow(dead_code)]
#[derive(Module, Debug)]
struct Tutorial<B: Backend> {
    encoder: Linear<B>,
    decoder: Linear<B>,
}

/// A model record written before `model.kind` (the tutorial's two layers), as this version
/// writes the same model: the dense kind with one layer each side. `None` when `payload` is not
/// such a record. Every model and checkpoint read goes through it, so that a run made by an
/// earlier version evaluates and resumes as it did.
pub(crate) fn upgrade_tutorial_record<B: Backend>(payload: &[u8]) -> Option<Vec<u8>> {
    type Item<B> = TutorialRecordItem<B, FullPrecisionSettings>;
    let old: BurnRecord<Item<B>, B> =
        Recorder::<B>::load_item(&recorder(), &mut payload.to_vec()).ok()?;
    let item =
        AutoencoderRecordItem::<B, FullPrecisionSettings>::Dense(DenseAutoencoderRecordItem {
            encoder: vec![old.item.encoder],
            decoder: vec![old.item.decoder],
            activation: EmptyRecord,
            loss: EmptyRecord,
            code_l1: EmptyRecord,
        });
    let record = BurnRecord::<_, B>::new::<NamedMpkBytesRecorder<FullPrecisionSettings>>(item);
    Recorder::<B>::save_item(&recorder(), record, ()).ok()
}

/// The message of a Burn recorder error, without its enum wrapping.
pub(crate) fn recorder_reason(error: &RecorderError) -> String {
    match error {
        RecorderError::FileNotFound(m)
        | RecorderError::DeserializeError(m)
        | RecorderError::Unknown(m) => m.lines().next().unwrap_or_default().to_owned(),
    }
}

/// Writes a record's bytes to `path`, sealed, atomically.
pub(crate) fn write_sealed(
    path: &Path,
    record: Result<Vec<u8>, RecorderError>,
) -> Result<(), ArtifactError> {
    let bytes = record.map_err(|e| ArtifactError::Write {
        path: path.to_owned(),
        source: io::Error::other(recorder_reason(&e)),
    })?;
    let bytes = seal(bytes);
    write_atomic(path, |file| file.write_all(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_payload_unseals_to_itself() {
        let sealed = seal(b"weights".to_vec());
        assert_eq!(unseal(&sealed), Ok(&b"weights"[..]));
    }

    #[test]
    fn truncation_alteration_and_foreign_files_are_refused() {
        let sealed = seal(b"weights".to_vec());
        let short = unseal(&sealed[..10]).unwrap_err();
        assert!(short.contains("too short"), "{short}");
        let cut = unseal(&sealed[1..]).unwrap_err();
        assert!(cut.contains("checksum"), "{cut}");
        let mut flipped = sealed.clone();
        flipped[2] ^= 1;
        let altered = unseal(&flipped).unwrap_err();
        assert!(altered.contains("does not match"), "{altered}");
        let foreign = unseal(&[0u8; 64]).unwrap_err();
        assert!(foreign.contains("does not end with"), "{foreign}");
    }
}
