//! The autoencoders, each a Burn `Module` chosen by `model.kind`: the fully-connected one
//! (the tutorial's 784 -> 256 -> 784 and any stack of layers, with an optional L1 penalty on
//! the code), the convolutional one and the variational one of Keras's tutorial. Every kind
//! trains on the same Learner, data and commands, on the reconstruction loss it is configured
//! with (`mse` or `bce`).

mod conv;
mod dense;
mod layers;
mod vae;

use std::fmt;

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

pub use self::conv::ConvAutoencoder;
pub(crate) use self::conv::{last_conv_trims, pooled_sides};
pub use self::dense::DenseAutoencoder;
pub(crate) use self::dense::DenseAutoencoderRecordItem;
pub use self::layers::{Loss, bce_with_logits, mse};
pub use self::vae::Vae;
use crate::data::{IMAGE_PIXELS, MnistBatch};
pub use crate::fused::composed::sigmoid;
use crate::fused::{Activation, FusedAutodiff, FusedOps};
/// How the weights and biases of every layer are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// N(0, 1), the tutorial's `tf.random_normal`.
    Normal,
    /// Burn's default: Kaiming-uniform.
    Kaiming,
    /// Xavier/Glorot-uniform, the biases too.
    Xavier,
    /// Keras's default for `Dense` and `Conv2D`: Glorot-uniform weights, zero biases.
    Keras,
}

impl fmt::Display for Init {
    /// The config's spelling: `normal`, `kaiming`, `xavier`, `keras`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Init::Normal => "normal",
            Init::Kaiming => "kaiming",
            Init::Xavier => "xavier",
            Init::Keras => "keras",
        })
    }
}

/// Which autoencoder (`model.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Fully connected: the tutorial's, Keras's simple, sparse and deep ones.
    Dense,
    /// Convolutional, with max pooling and upsampling.
    Conv,
    /// Variational, on fully-connected layers.
    Vae,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Dense => "dense",
            ModelKind::Conv => "conv",
            ModelKind::Vae => "vae",
        })
    }
}

#[derive(Config, Debug)]
pub struct AutoencoderConfig {
    #[config(default = "ModelKind::Dense")]
    pub kind: ModelKind,
    /// Units in the code layer (the VAE's latent dimensions); `conv` takes its code's size from
    /// `conv_channels`.
    #[config(default = 256)]
    pub hidden_size: usize,
    /// The layers between the image and the code (`dense`, `vae`); the decoder mirrors them.
    #[config(default = "Vec::new()")]
    pub hidden_layers: Vec<usize>,
    /// Of every layer but the output (`dense`: the code's too).
    #[config(default = "Activation::Sigmoid")]
    pub activation: Activation,
    /// `conv`: the channels of each convolution from the image to the code.
    #[config(default = "vec![16, 8, 8]")]
    pub conv_channels: Vec<usize>,
    #[config(default = "Loss::Mse")]
    pub loss: Loss,
    /// `dense`: the L1 penalty on the code, per image.
    #[config(default = 0.0)]
    pub code_l1: f64,
    /// Of the weights, and of the biases unless `zero_biases`.
    #[config(default = "Initializer::Normal { mean: 0.0, std: 1.0 }")]
    pub initializer: Initializer,
    #[config(default = false)]
    pub zero_biases: bool,
}

impl AutoencoderConfig {
    /// The tutorial's kind of model for a hidden size and one of the named initialisations.
    pub fn from_settings(hidden_size: usize, init: Init) -> Self {
        Self::new().with_hidden_size(hidden_size).with_init(init)
    }

    /// Draws the weights as `init` says.
    pub fn with_init(self, init: Init) -> Self {
        let initializer = match init {
            Init::Normal => Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            },
            Init::Kaiming => LinearConfig::new(1, 1).initializer,
            Init::Xavier | Init::Keras => Initializer::XavierUniform { gain: 1.0 },
        };
        self.with_initializer(initializer)
            .with_zero_biases(init == Init::Keras)
    }

    pub fn init<B: FusedOps>(&self, device: &B::Device) -> Autoencoder<B> {
        let model = match self.kind {
            ModelKind::Dense => Autoencoder::Dense(self.dense(device)),
            ModelKind::Conv => Autoencoder::Conv(self.conv(device)),
            ModelKind::Vae => Autoencoder::Vae(self.vae(device)),
        };
        // Burn draws a parameter's initial values when it is first read, from one RNG shared
        // by every thread. Reading them here, in a fixed order on this thread, keeps the Learner's
        // threads from ever drawing them in another order: the same seed, the same weights.
        model.visit(&mut DrawNow);
        model
    }

    /// The model in a few words: `784-256-784` for the tutorial's, its layers, kind,
    /// activation and loss for others.
    /// The config keys that fix this model's shapes, as a user would write them
    /// (`model.hidden_size = 32`), for messages on weights of another shape.
    pub fn shape_keys(&self) -> String {
        let list = |sizes: &[usize]| {
            let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
            sizes.join(", ")
        };
        match self.kind {
            ModelKind::Conv => format!("model.conv_channels = [{}]", list(&self.conv_channels)),
            _ if self.hidden_layers.is_empty() => {
                format!("model.hidden_size = {}", self.hidden_size)
            }
            _ => format!(
                "model.hidden_layers = [{}] with model.hidden_size = {}",
                list(&self.hidden_layers),
                self.hidden_size
            ),
        }
    }

    pub fn describe(&self) -> String {
        let join = |sizes: &[usize]| {
            let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
            sizes.join("-")
        };
        let mut encoder = vec![IMAGE_PIXELS];
        encoder.extend(&self.hidden_layers);
        let shape = match self.kind {
            ModelKind::Dense => {
                encoder.push(self.hidden_size);
                let decoder: Vec<usize> = encoder.iter().rev().skip(1).copied().collect();
                format!("{}-{}", join(&encoder), join(&decoder))
            }
            ModelKind::Vae => {
                let decoder: Vec<usize> = encoder.iter().rev().copied().collect();
                let code = self.hidden_size;
                format!("variational {}-({code})-{}", join(&encoder), join(&decoder))
            }
            ModelKind::Conv => {
                let side = pooled_sides(self.conv_channels.len()).last().copied();
                let channels = self.conv_channels.last().copied().unwrap_or(1);
                let side = side.unwrap_or(1);
                format!(
                    "convolutional {} channels (code {channels}x{side}x{side})",
                    join(&self.conv_channels)
                )
            }
        };
        let mut extras = Vec::new();
        if self.activation != Activation::Sigmoid {
            extras.push(self.activation.to_string());
        }
        if self.loss != Loss::Mse {
            extras.push(format!("{} loss", self.loss));
        }
        if self.code_l1 != 0.0 {
            extras.push(format!("code L1 {}", self.code_l1));
        }
        if extras.is_empty() {
            shape
        } else {
            format!("{shape} ({})", extras.join(", "))
        }
    }

    /// Every parameter of the model [`AutoencoderConfig::init`] makes, in its order: its name
    /// (as [`Autoencoder::parameter_shapes`] gives it) and its shape, in Burn's layout.
    pub fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        type Named = Vec<(String, Vec<usize>)>;
        fn layer(out: &mut Named, name: &str, weight: Vec<usize>, units: usize) {
            out.push((format!("{name}.weight"), weight));
            out.push((format!("{name}.bias"), vec![units]));
        }
        fn stack(out: &mut Named, name: &str, sizes: &[usize]) {
            for (i, pair) in sizes.windows(2).enumerate() {
                layer(out, &format!("{name}.{i}"), vec![pair[0], pair[1]], pair[1]);
            }
        }
        fn conv(out: &mut Named, name: &str, from: usize, to: usize) {
            layer(out, name, vec![to, from, 3, 3], to);
        }
        let mut out = Vec::new();
        let sizes = self.encoder_sizes();
        match self.kind {
            ModelKind::Dense => {
                let back: Vec<usize> = sizes.iter().rev().copied().collect();
                stack(&mut out, "encoder", &sizes);
                stack(&mut out, "decoder", &back);
            }
            ModelKind::Vae => {
                let hidden = &sizes[..sizes.len() - 1];
                let (last, code) = (hidden[hidden.len() - 1], self.hidden_size);
                let mut back = vec![code];
                back.extend(hidden.iter().rev());
                stack(&mut out, "encoder", hidden);
                for head in ["mean", "log_variance"] {
                    layer(&mut out, head, vec![last, code], code);
                }
                stack(&mut out, "decoder", &back);
            }
            ModelKind::Conv => {
                let mut channels = vec![1];
                channels.extend(&self.conv_channels);
                for (i, pair) in channels.windows(2).enumerate() {
                    conv(&mut out, &format!("encoder.{i}"), pair[0], pair[1]);
                }
                let back: Vec<usize> = channels.iter().skip(1).rev().copied().collect();
                let mut from = back[0];
                for (i, &to) in back.iter().enumerate() {
                    conv(&mut out, &format!("decoder.{i}"), from, to);
                    from = to;
                }
                conv(&mut out, "output", from, 1);
            }
        }
        out
    }

    /// The sizes of the layers from the image to the code.
    fn encoder_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![IMAGE_PIXELS];
        sizes.extend(&self.hidden_layers);
        sizes.push(self.hidden_size);
        sizes
    }

    fn linear<B: FusedOps>(
        &self,
        d_input: usize,
        d_output: usize,
        device: &B::Device,
    ) -> Linear<B> {
        let mut linear = LinearConfig::new(d_input, d_output)
            .with_initializer(self.initializer.clone())
            .init(device);
        if self.zero_biases {
            linear.bias = Some(Param::from_tensor(Tensor::zeros([d_output], device)));
        }
        linear
    }

    /// One layer for each pair of neighbours in `sizes`.
    fn stack<B: FusedOps>(&self, sizes: &[usize], device: &B::Device) -> Vec<Linear<B>> {
        sizes
            .windows(2)
            .map(|pair| self.linear(pair[0], pair[1], device))
            .collect()
    }

    fn dense<B: FusedOps>(&self, device: &B::Device) -> DenseAutoencoder<B> {
        let sizes = self.encoder_sizes();
        let back: Vec<usize> = sizes.iter().rev().copied().collect();
        DenseAutoencoder {
            encoder: self.stack(&sizes, device),
            decoder: self.stack(&back, device),
            activation: self.activation,
            loss: self.loss,
            code_l1: self.code_l1,
        }
    }

    fn vae<B: FusedOps>(&self, device: &B::Device) -> Vae<B> {
        let mut sizes = vec![IMAGE_PIXELS];
        sizes.extend(&self.hidden_layers);
        let last = *sizes.last().expect("the image");
        let mut back = vec![self.hidden_size];
        back.extend(sizes.iter().rev());
        Vae {
            encoder: self.stack(&sizes, device),
            mean: self.linear(last, self.hidden_size, device),
            log_variance: self.linear(last, self.hidden_size, device),
            decoder: self.stack(&back, device),
            activation: self.activation,
            loss: self.loss,
        }
    }

    fn conv2d<B: FusedOps>(
        &self,
        channels: [usize; 2],
        trim: bool,
        device: &B::Device,
    ) -> Conv2d<B> {
        let padding = if trim {
            PaddingConfig2d::Valid
        } else {
            PaddingConfig2d::Same
        };
        let mut conv = Conv2dConfig::new(channels, [3, 3])
            .with_padding(padding)
            .with_initializer(self.initializer.clone())
            .init(device);
        if self.zero_biases {
            conv.bias = Some(Param::from_tensor(Tensor::zeros([channels[1]], device)));
        }
        conv
    }

    fn conv<B: FusedOps>(&self, device: &B::Device) -> ConvAutoencoder<B> {
        let channels = &self.conv_channels;
        let pools = channels.len();
        let code_side = *pooled_sides(pools).last().expect("the image's side");
        let trims = last_conv_trims(code_side, pools).unwrap_or_else(|| {
            panic!("{pools} poolings from 28 cannot be mirrored back to 28 (the config checks)")
        });
        let mut ins = vec![1];
        ins.extend(channels);
        let encoder = ins
            .windows(2)
            .map(|pair| self.conv2d([pair[0], pair[1]], false, device))
            .collect();
        // The decoder mirrors the channels: from the code's, back to the first convolution's.
        let outs: Vec<usize> = channels.iter().rev().copied().collect();
        let mut decoder = Vec::with_capacity(pools);
        let mut from = *outs.first().unwrap_or(&1);
        for (i, &to) in outs.iter().enumerate() {
            decoder.push(self.conv2d([from, to], trims && i + 1 == pools, device));
            from = to;
        }
        ConvAutoencoder {
            encoder,
            decoder,
            output: self.conv2d([from, 1], false, device),
            activation: self.activation,
            loss: self.loss,
            code_side,
        }
    }
}

/// Reads every parameter once, which draws its initial values (see [`AutoencoderConfig::init`]).
struct DrawNow;

impl<B: Backend> burn::module::ModuleVisitor<B> for DrawNow {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        param.val();
    }
}

/// One of the autoencoders.
#[derive(Module, Debug)]
pub enum Autoencoder<B: Backend> {
    Dense(DenseAutoencoder<B>),
    Conv(ConvAutoencoder<B>),
    Vae(Vae<B>),
}

/// `$body` with `$m` bound to the model inside whichever kind `$model` is.
macro_rules! each_kind {
    ($model:expr, $m:ident => $body:expr) => {
        match $model {
            Autoencoder::Dense($m) => $body,
            Autoencoder::Conv($m) => $body,
            Autoencoder::Vae($m) => $body,
        }
    };
}

impl<B: Backend> Autoencoder<B> {
    pub fn kind(&self) -> ModelKind {
        self.layout().0
    }

    /// The fully-connected model inside, if it is one.
    pub fn dense(&self) -> Option<&DenseAutoencoder<B>> {
        match self {
            Autoencoder::Dense(dense) => Some(dense),
            _ => None,
        }
    }

    /// The tutorial's kind of model (fully connected, sigmoid, squared error) from its two
    /// layers.
    pub fn tutorial(encoder: Linear<B>, decoder: Linear<B>) -> Self {
        Autoencoder::Dense(DenseAutoencoder {
            encoder: vec![encoder],
            decoder: vec![decoder],
            activation: Activation::Sigmoid,
            loss: Loss::Mse,
            code_l1: 0.0,
        })
    }

    /// The two layers of a model of the tutorial's shape (fully connected, one layer each side
    /// of the code).
    pub fn tutorial_layers(&self) -> Option<[&Linear<B>; 2]> {
        match self {
            Autoencoder::Dense(m) if m.encoder.len() == 1 && m.decoder.len() == 1 => {
                Some([&m.encoder[0], &m.decoder[0]])
            }
            _ => None,
        }
    }

    /// [`Autoencoder::tutorial_layers`], to change.
    pub fn tutorial_layers_mut(&mut self) -> Option<[&mut Linear<B>; 2]> {
        match self {
            Autoencoder::Dense(m) if m.encoder.len() == 1 && m.decoder.len() == 1 => {
                Some([&mut m.encoder[0], &mut m.decoder[0]])
            }
            _ => None,
        }
    }

    /// The kind and the number of encoder and decoder layers.
    fn layout(&self) -> (ModelKind, [usize; 2]) {
        match self {
            Autoencoder::Dense(m) => (ModelKind::Dense, [m.encoder.len(), m.decoder.len()]),
            Autoencoder::Conv(m) => (ModelKind::Conv, [m.encoder.len(), m.decoder.len()]),
            Autoencoder::Vae(m) => (ModelKind::Vae, [m.encoder.len(), m.decoder.len()]),
        }
    }

    /// This model with the weights of `record`, when it holds a model of the same kind and
    /// layers (Burn's `load_record` panics on any other); the caller checks the shapes.
    pub(crate) fn load_checked(self, record: AutoencoderRecord<B>) -> Result<Self, String> {
        let found = match &record {
            AutoencoderRecord::Dense(r) => (ModelKind::Dense, [r.encoder.len(), r.decoder.len()]),
            AutoencoderRecord::Conv(r) => (ModelKind::Conv, [r.encoder.len(), r.decoder.len()]),
            AutoencoderRecord::Vae(r) => (ModelKind::Vae, [r.encoder.len(), r.decoder.len()]),
        };
        let expected = self.layout();
        if found != expected {
            let describe = |(kind, [enc, dec]): (ModelKind, [usize; 2])| {
                format!("a \"{kind}\" model of {enc} encoder and {dec} decoder layers")
            };
            return Err(format!(
                "it holds {}, not {} as the config describes",
                describe(found),
                describe(expected)
            ));
        }
        Ok(self.load_record(record))
    }

    /// Every parameter's name (as safetensors files name it: `encoder.0.weight`, ...) and
    /// shape, in the model's order.
    pub(crate) fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        use burn::store::ModuleSnapshot;
        self.collect(None, None, true)
            .into_iter()
            .map(|snapshot| (snapshot.full_path(), snapshot.shape.to_vec()))
            .collect()
    }

    /// Every parameter with its name and values.
    pub fn named_parameters(&self) -> Vec<(String, Vec<f32>)> {
        use burn::store::ModuleSnapshot;
        self.collect(None, None, true)
            .into_iter()
            .map(|snapshot| {
                let values = snapshot
                    .to_data()
                    .expect("a parameter's values")
                    .to_vec::<f32>()
                    .expect("f32 parameters");
                (snapshot.full_path(), values)
            })
            .collect()
    }

    /// The first parameter holding values that are not finite: its name (as safetensors
    /// files name it), how many, and its size.
    pub(crate) fn non_finite(&self) -> Option<(String, usize, usize)> {
        self.named_parameters()
            .into_iter()
            .find_map(|(name, values)| {
                let bad = values.iter().filter(|v| !v.is_finite()).count();
                (bad > 0).then_some((name, bad, values.len()))
            })
    }
}

impl<B: FusedOps> Autoencoder<B> {
    /// images: `[batch, 784]` in [0, 1] -> codes: `[batch, code]` (a VAE's: their means)
    pub fn encode(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        each_kind!(self, m => m.encode(images))
    }

    /// codes: `[batch, code]` -> images: `[batch, 784]` in (0, 1)
    pub fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        each_kind!(self, m => m.decode(codes))
    }

    /// images: `[batch, 784]` -> reconstructions: `[batch, 784]` (a VAE decodes the means)
    pub fn forward(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode(self.encode(images))
    }

    /// Values in a code: the code layer's units, the VAE's latent dimensions, or the
    /// convolutional code's channels times its pixels.
    pub fn code_size(&self) -> usize {
        each_kind!(self, m => m.code_size())
    }

    /// The training objective of a batch, `[1]`: the reconstruction loss of `targets` from
    /// `inputs` (and a sparse model's penalty, a VAE's KL divergence with `noise` drawn for
    /// its sample: see [`Vae::objective`]).
    pub fn objective(
        &self,
        inputs: Tensor<B, 2>,
        targets: Tensor<B, 2>,
        noise: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 1> {
        match self {
            Autoencoder::Dense(m) => m.objective(inputs, targets),
            Autoencoder::Conv(m) => m.objective(inputs, targets),
            Autoencoder::Vae(m) => m.objective(inputs, targets, noise),
        }
    }

    /// The objective of clean images, deterministic (a VAE decodes the means).
    pub fn loss(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        self.objective(images.clone(), images, None)
    }

    /// [`Autoencoder::loss`] through Burn's standard ops, without the fused ones: the
    /// reference the fused path is tested against.
    pub fn loss_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        each_kind!(self, m => m.objective_composed(images))
    }
}

/// What a step hands to the metrics: the batch loss only, off the autodiff graph.
///
/// Burn's `RegressionOutput` would also copy the `[batch, 784]` output and targets to the host
/// every step; the loss metric reads only the loss.
#[derive(Debug, Clone)]
pub struct ReconstructionOutput<B: Backend> {
    /// `[1]`: the batch's loss (the tutorial's: its mean squared error). Its single element
    /// makes the epoch's loss metric the mean of the batch means, as the tutorial's
    /// `total_cost / total_batch`.
    pub loss: Tensor<B, 1>,
}

impl<B: Backend> ItemLazy for ReconstructionOutput<B> {
    type ItemSync = Self;

    fn sync(self) -> Self {
        self
    }
}

impl<B: Backend> Adaptor<LossInput<B>> for ReconstructionOutput<B> {
    fn adapt(&self) -> LossInput<B> {
        LossInput::new(self.loss.clone())
    }
}

impl<B: FusedAutodiff> TrainStep for Autoencoder<B> {
    type Input = MnistBatch<B>;
    type Output = ReconstructionOutput<B::InnerBackend>;

    fn step(&self, batch: MnistBatch<B>) -> TrainOutput<Self::Output> {
        let loss = self.objective(batch.inputs, batch.images, batch.latent_noise);
        let output = ReconstructionOutput {
            loss: loss.clone().inner(),
        };
        TrainOutput::new(self, loss.backward(), output)
    }
}

impl<B: FusedOps> InferenceStep for Autoencoder<B> {
    type Input = MnistBatch<B>;
    type Output = ReconstructionOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> Self::Output {
        ReconstructionOutput {
            loss: self.objective(batch.inputs, batch.images, None),
        }
    }
}
