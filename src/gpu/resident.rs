//! A dataset split kept on the device, uploaded once per stage: a batch is
//! gathered there by index, so a step uploads a few hundred bytes of
//! indices instead of its images.

use crate::data::dataset::Split;
use crate::model::input::{batch_images, batch_labels};
use burn::tensor::{Device, Int, Tensor, TensorData};

pub struct Resident {
    /// [N, 3, 32, 32] in 0..1, converted on the host exactly as a host
    /// batch is (a device's division may round differently); `None` when
    /// only the labels are kept (augmented batches come from the host).
    images: Option<Tensor<4>>,
    labels: Tensor<1, Int>,
    len: usize,
}

impl Resident {
    pub fn upload(split: &Split, device: &Device) -> Resident {
        let all: Vec<usize> = (0..split.len()).collect();
        Resident { images: Some(batch_images(split, &all, None, device)), ..Resident::labels_only(split, device) }
    }

    pub fn labels_only(split: &Split, device: &Device) -> Resident {
        let all: Vec<usize> = (0..split.len()).collect();
        Resident { images: None, labels: batch_labels(split, &all, device), len: split.len() }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn device(&self) -> Device {
        self.labels.device()
    }

    /// The images and labels at `indices`, gathered on the device.
    pub fn gather(&self, indices: &[usize]) -> (Tensor<4>, Tensor<1, Int>) {
        let index = self.index(indices);
        (self.images().select(0, index.clone()), self.labels.clone().select(0, index))
    }

    /// The labels at `indices`.
    pub fn labels_at(&self, indices: &[usize]) -> Tensor<1, Int> {
        self.labels.clone().select(0, self.index(indices))
    }

    /// Items `start..start + len`, a view of the device copy.
    pub fn range(&self, start: usize, len: usize) -> (Tensor<4>, Tensor<1, Int>) {
        (self.images().narrow(0, start, len), self.labels.clone().narrow(0, start, len))
    }

    fn images(&self) -> Tensor<4> {
        self.images.clone().expect("a split uploaded with its images")
    }

    fn index(&self, indices: &[usize]) -> Tensor<1, Int> {
        let values: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(values, [indices.len()]), &self.labels.device())
    }
}
