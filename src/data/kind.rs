//! Which dataset of the MNIST family a run uses. Fashion-MNIST ships in the same IDX format,
//! under the same four file names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `data.dataset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// LeCun, Cortes and Burges' handwritten digits.
    Mnist,
    /// Zalando's 28x28 grayscale clothing images, ten classes.
    FashionMnist,
}

impl DatasetKind {
    /// The folder `data.dir` names when the config leaves it out.
    pub(crate) fn default_dir(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "data/mnist",
            DatasetKind::FashionMnist => "data/fashion-mnist",
        }
    }

    /// The mirror `data.url` names when the config leaves it out.
    pub fn default_url(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist/",
            DatasetKind::FashionMnist => {
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
            }
        }
    }

    /// The names of labels 0 to 9, for legends.
    pub(crate) fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        })
    }
}
