//! Learning-rate schedule by epoch and early stopping on validation loss.

/// `lr` times the factor of the last step whose epoch is passed: the
/// report's schedule is `[[10, 0.5], [20, 0.1], [30, 0.05]]` on 1e-3
/// (e > 10 -> 5e-4, e > 20 -> 1e-4, e > 30 -> 5e-5; e is 0-based).
pub fn learning_rate(lr: f64, steps: &[(usize, f64)], epoch: usize) -> f64 {
    steps.iter().filter(|(after, _)| epoch > *after).map(|(_, f)| lr * f).next_back().unwrap_or(lr)
}

/// Keras EarlyStopping(monitor='val_loss', patience, restore_best_weights=False).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EarlyStopping {
    pub patience: usize,
    /// Lowest validation loss so far (none before the first epoch; JSON
    /// cannot hold the infinity a float sentinel would need).
    pub best: Option<f64>,
    pub best_epoch: Option<usize>,
    pub wait: usize,
}

impl EarlyStopping {
    pub fn new(patience: usize) -> EarlyStopping {
        EarlyStopping { patience, best: None, best_epoch: None, wait: 0 }
    }

    /// Records an epoch's validation loss; true when training should stop.
    pub fn update(&mut self, epoch: usize, val_loss: f64) -> bool {
        if self.best.is_none_or(|best| val_loss < best) && !val_loss.is_nan() {
            self.best = Some(val_loss);
            self.best_epoch = Some(epoch);
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        self.wait >= self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_schedule() {
        let steps = [(10, 0.5), (20, 0.1), (30, 0.05)];
        let lrs: Vec<f64> = [0, 10, 11, 20, 21, 30, 31, 149].iter().map(|&e| learning_rate(1e-3, &steps, e)).collect();
        let expected = [1e-3, 1e-3, 5e-4, 5e-4, 1e-4, 1e-4, 5e-5, 5e-5];
        for (got, want) in lrs.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{lrs:?}");
        }
        assert_eq!(learning_rate(1e-3, &[], 99), 1e-3);
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut es = EarlyStopping::new(3);
        let losses = [1.0, 0.8, 0.9, 0.85, 0.81, 0.7, 0.75, 0.75, 0.71];
        let stops: Vec<bool> = losses.iter().enumerate().map(|(e, &l)| es.update(e, l)).collect();
        assert_eq!(stops, vec![false, false, false, false, true, false, false, false, true]);
        assert_eq!(es.best_epoch, Some(5));
    }

    #[test]
    fn state_survives_json_before_and_after_a_nan_epoch() {
        let mut es = EarlyStopping::new(2);
        let json = serde_json::to_string(&es).unwrap();
        assert_eq!(serde_json::from_str::<EarlyStopping>(&json).unwrap(), es);
        assert!(!es.update(0, f64::NAN), "a NaN loss is no improvement");
        assert_eq!(es.best, None);
        es.update(1, 0.7);
        assert_eq!(serde_json::from_str::<EarlyStopping>(&serde_json::to_string(&es).unwrap()).unwrap(), es);
    }

    #[test]
    fn equal_loss_is_not_an_improvement() {
        let mut es = EarlyStopping::new(1);
        assert!(!es.update(0, 0.5));
        assert!(es.update(1, 0.5));
    }
}
