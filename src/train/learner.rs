//! One launch of Burn's Learner: the training loop, its checkpointer, its dashboard or plain
//! lines, and the checks a resumed run's checkpoint must pass first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::DataLoader;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::record::{Record, Recorder};
use burn::train::metric::LossMetric;
use burn::train::{Learner, SupervisedTraining};

use super::checkpoint::{
    self, CheckpointError, CheckpointRecorder, DeleteThenSave, KEPT_CHECKPOINTS,
};
use super::dashboard::{self, PlainRenderer};
use super::epoch_log::EpochLogger;
use super::experiment_log::ExperimentLog;
use super::stop::Stop;
use crate::data::MnistBatch;
use crate::fused::{FusedAutodiff, FusedOps};
use crate::model::{Autoencoder, AutoencoderConfig};
use crate::run_dir::record::recorder_reason;
use crate::run_dir::{DirWatch, EXPERIMENT_LOG, model_from_record};

/// Everything a Learner launch needs besides the model and its optimiser.
pub(super) struct Run<'a, B: FusedAutodiff> {
    pub(super) dir: &'a Path,
    pub(super) train_loader: Arc<dyn DataLoader<B, MnistBatch<B>>>,
    pub(super) valid_loader: Arc<dyn DataLoader<B::InnerBackend, MnistBatch<B::InnerBackend>>>,
    pub(super) epoch_logger: EpochLogger,
    pub(super) epochs: usize,
    pub(super) learning_rate: f64,
    pub(super) spec: &'a AutoencoderConfig,
    /// The checkpointed epoch to continue after; 0 for a fresh run.
    pub(super) resume_epoch: usize,
    pub(super) stop: Stop,
    pub(super) watch: Arc<DirWatch>,
    pub(super) tui: bool,
    pub(super) device: &'a B::Device,
}

impl<B: FusedAutodiff> Run<'_, B> {
    /// Trains with `optimizer`, on Burn's dashboard or plain; returns the model as training left
    /// it (finished or stopped).
    pub(super) fn launch<O>(
        self,
        model: Autoencoder<B>,
        optimizer: O,
    ) -> Result<Autoencoder<B::InnerBackend>, CheckpointError>
    where
        O: Optimizer<Autoencoder<B>, B> + 'static,
    {
        let interrupter = self.stop.interrupter();
        let progress = self.epoch_logger.progress();
        let recorder =
            CheckpointRecorder::new(self.stop.failure(), self.watch, progress, self.epochs);
        let mut training = SupervisedTraining::new(self.dir, self.train_loader, self.valid_loader)
            .metrics((LossMetric::<B::InnerBackend>::new(),))
            .with_metric_logger(self.epoch_logger)
            .num_epochs(self.epochs)
            .with_file_checkpointer(recorder)
            .with_checkpointing_strategy(DeleteThenSave::keeping(KEPT_CHECKPOINTS))
            .with_interrupter(interrupter.clone())
            .with_application_logger(Some(Box::new(ExperimentLog::new(
                &self.dir.join(EXPERIMENT_LOG),
            ))));
        let resumed = (self.resume_epoch > 0).then_some(self.resume_epoch);
        if let Some(epoch) = resumed {
            // Burn panics on a checkpoint it cannot load: read each one here first.
            check_checkpoint::<B, O>(self.dir, epoch, self.spec, self.device)?;
            training = training.checkpoint(epoch);
        }
        let training = if self.tui {
            training.renderer(dashboard::tui(interrupter, resumed))
        } else {
            training.renderer(PlainRenderer)
        };
        let result = training.launch(Learner::new(model, optimizer, self.learning_rate));
        // Closes the dashboard, so that what follows is printed on the normal screen.
        drop(result.renderer);
        Ok(result.model)
    }
}

/// Loads the three records of checkpoint `epoch`, so that a damaged one is an error message.
fn check_checkpoint<B: FusedAutodiff, O: Optimizer<Autoencoder<B>, B>>(
    dir: &Path,
    epoch: usize,
    spec: &AutoencoderConfig,
    device: &B::Device,
) -> Result<(), CheckpointError> {
    fn load<B: FusedOps, R: Record<B>>(
        path: PathBuf,
        device: &B::Device,
    ) -> Result<R, CheckpointError> {
        Recorder::<B>::load(&CheckpointRecorder::default(), path.clone(), device).map_err(|e| {
            CheckpointError::Damaged {
                path,
                reason: recorder_reason(&e),
            }
        })
    }
    let model_path = checkpoint::checkpoint_path(dir, "model", epoch);
    let record = load::<B, <Autoencoder<B> as Module<B>>::Record>(model_path.clone(), device)?;
    model_from_record(record, spec, device).map_err(|reason| CheckpointError::Damaged {
        path: model_path,
        reason,
    })?;
    load::<B, O::Record>(checkpoint::checkpoint_path(dir, "optim", epoch), device)?;
    load::<B, ()>(checkpoint::checkpoint_path(dir, "scheduler", epoch), device)?;
    Ok(())
}
