//! The four files of an MNIST-format dataset: one table of their names, which part and what
//! they hold, and the published SHA-256 of MNIST's own. The reader and the download both use it.

use std::path::{Path, PathBuf};

/// One of the two halves MNIST ships as: 60,000 training and 10,000 test images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistPart {
    Train,
    Test,
}

impl MnistPart {
    /// How many images the original distribution has in this part.
    pub(crate) const fn images(self) -> usize {
        match self {
            MnistPart::Train => 60_000,
            MnistPart::Test => 10_000,
        }
    }

    /// The image file and the label file of this part.
    pub(crate) fn files(self) -> [&'static DataFile; 2] {
        let of = |labels: bool| {
            FILES
                .iter()
                .find(|f| f.part == self && f.labels == labels)
                .expect("each part has both files")
        };
        [of(false), of(true)]
    }
}

/// A file of the dataset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DataFile {
    /// The name without the optional `.gz`.
    pub stem: &'static str,
    pub part: MnistPart,
    /// Labels, or else images.
    pub labels: bool,
    /// The SHA-256 of MNIST's original `.gz`, as published with the LeCun distribution.
    pub mnist_sha256: &'static str,
}

impl DataFile {
    /// The name it is downloaded as: `stem.gz`.
    pub(crate) fn gz_name(&self) -> String {
        format!("{}.gz", self.stem)
    }

    /// The file of MNIST's original distribution called `name`, if any.
    pub fn named(name: &str) -> Option<&'static DataFile> {
        FILES.iter().find(|f| f.gz_name() == name)
    }
}

/// The four files, in the order of the original distribution (the format and names are
/// Fashion-MNIST's too).
pub(crate) const FILES: [DataFile; 4] = [
    DataFile {
        stem: "train-images-idx3-ubyte",
        part: MnistPart::Train,
        labels: false,
        mnist_sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    DataFile {
        stem: "train-labels-idx1-ubyte",
        part: MnistPart::Train,
        labels: true,
        mnist_sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    DataFile {
        stem: "t10k-images-idx3-ubyte",
        part: MnistPart::Test,
        labels: false,
        mnist_sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    DataFile {
        stem: "t10k-labels-idx1-ubyte",
        part: MnistPart::Test,
        labels: true,
        mnist_sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
];

/// `<stem>.gz` or `<stem>` in `dir`, whichever is there (the `.gz` first); `None` for neither.
pub(crate) fn present(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_owned()]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}
