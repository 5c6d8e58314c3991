//! Center loss (SPEC section 5; Wen et al. 2016): each sample's first-Dense
//! feature is pulled toward its class center. Loss term:
//! w * mean over the batch of ||f_i - c_{y_i}||^2 / 2. Centers start from
//! K-means on features of a shuffled training sample and are either learned
//! by the optimizer with the network or follow Wen et al.'s moving average.

use crate::clustering::centers::class_centers;
use crate::clustering::kmeans::kmeans;
use crate::data::dataset::{CIFAR10_CLASSES, Split};
use crate::model::Cnn;
use crate::model::extract::{Tap, extract};
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Width of the feature the centers live in (the first Dense layer).
pub const FEATURE_DIM: usize = 512;
const CLASSES: usize = CIFAR10_CLASSES.len();

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CenterUpdate {
    /// Centers are parameters, stepped by the network's optimizer.
    Learned,
    /// c_j -= alpha * sum_{y_i = j}(c_j - f_i) / (1 + n_j), outside autodiff.
    MovingAverage,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CenterSettings {
    /// w; 0 keeps the branch running but weightless.
    pub weight: f64,
    pub update: CenterUpdate,
    /// Moving-average rate (Wen et al.'s alpha).
    pub alpha: f64,
    /// Training images whose features K-means clusters.
    pub init_sample: usize,
    pub kmeans_iterations: usize,
}

/// The class centers, [classes, 512], as a module so the optimizer and
/// checkpoints treat them like any other parameter.
#[derive(Module, Debug)]
pub struct Centers {
    pub value: Param<Tensor<2>>,
}

impl Centers {
    pub fn from_rows(rows: Vec<f32>, device: &Device) -> Centers {
        let classes = rows.len() / FEATURE_DIM;
        Centers { value: Param::from_tensor(Tensor::from_data(TensorData::new(rows, [classes, FEATURE_DIM]), device)) }
    }

    /// Placeholder of the right shape, for loading a checkpoint into.
    pub fn zeros(device: &Device) -> Centers {
        Centers::from_rows(vec![0.0; CLASSES * FEATURE_DIM], device)
    }

    pub fn to_rows(&self) -> Vec<f32> {
        self.value.val().into_data().try_into_vec::<f32>().expect("centers are f32")
    }

    /// mean_i ||f_i - c_{y_i}||^2 / 2, as a one-element tensor. With
    /// `track` false the centers are constants (moving-average rule).
    pub fn loss(&self, features: Tensor<2>, labels: Tensor<1, Int>, track: bool) -> Tensor<1> {
        let centers = if track { self.value.val() } else { self.value.val().detach() };
        let diff = features - centers.select(0, labels);
        diff.powi_scalar(2).sum_dim(1).mean().div_scalar(2.0)
    }

    /// Wen et al.'s update from one batch's (detached) features.
    pub fn moving_average_step(self, features: &[f32], labels: &[u8], alpha: f64) -> Centers {
        let mut rows = self.to_rows();
        let mut delta = vec![0f32; rows.len()];
        let mut counts = vec![0usize; rows.len() / FEATURE_DIM];
        for (f, &y) in features.chunks_exact(FEATURE_DIM).zip(labels) {
            let j = y as usize;
            counts[j] += 1;
            for ((d, &c), &v) in delta[j * FEATURE_DIM..(j + 1) * FEATURE_DIM].iter_mut().zip(&rows[j * FEATURE_DIM..]).zip(f) {
                *d += c - v;
            }
        }
        for (j, &n) in counts.iter().enumerate() {
            let scale = alpha as f32 / (1 + n) as f32;
            for (c, d) in rows[j * FEATURE_DIM..(j + 1) * FEATURE_DIM].iter_mut().zip(&delta[j * FEATURE_DIM..]) {
                *c -= scale * d;
            }
        }
        let device = self.value.val().device();
        let tensor = Tensor::from_data(TensorData::new(rows, [counts.len(), FEATURE_DIM]), &device);
        Centers { value: Param::initialized(self.value.id, tensor) }
    }
}

/// Initial centers: K-means (k = classes) on first-Dense features of a
/// seeded shuffle of the training set, clusters matched to classes. The
/// sample is shuffled because a head-of-file sample of class-sorted data
/// misses classes.
pub fn initial_centers(model: &Cnn, train: &Split, settings: &CenterSettings, seed: u64, batch: usize, device: &Device) -> Vec<f32> {
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.truncate(settings.init_sample.clamp(CLASSES, train.len().max(CLASSES)).min(train.len()));
    let features = extract(model, train, &order, &[Tap::Dense], batch, device).remove(0);
    let labels: Vec<u8> = order.iter().map(|&i| train.labels[i]).collect();
    let clusters = kmeans(&features, FEATURE_DIM, CLASSES.min(order.len()), settings.kmeans_iterations, seed);
    class_centers(&features, &labels, FEATURE_DIM, CLASSES, &clusters)
}
