//! Weights in and out as safetensors: `export` writes what PyTorch's Linear holds, `import` and
//! `train --init-from` take it (or Burn's layout) back bit for bit, and a wrong file is one line.
// The training tests run on ndarray only; their helpers are unused on wgpu.
#![cfg_attr(feature = "wgpu", allow(dead_code))]

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Output;

use mnist_autoencoder::backend::Backend as Cpu;
use mnist_autoencoder::run_dir::RunDir;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::common::{assert_one_line_error, cost_bits, run_in, stderr, stdout, train_ok};

/// One epoch on 2,000 images with 32 hidden units: a model in a fraction of a second.
const SMALL: [&str; 4] = [
    "data.train_limit=2000",
    "data.validation_size=500",
    "training.epochs=1",
    "model.hidden_size=32",
];

/// The four tensors of the model saved in `dir`, as Burn holds them ([in, out] weights).
fn burn_tensors(dir: &Path) -> Vec<(Vec<usize>, Vec<f32>)> {
    let model = RunDir::new(dir)
        .load::<Cpu>(&Default::default())
        .unwrap()
        .model;
    let mut tensors = Vec::new();
    for linear in model.tutorial_layers().unwrap() {
        for tensor in [
            linear.weight.val().into_data(),
            linear.bias.as_ref().unwrap().val().into_data(),
        ] {
            tensors.push((tensor.shape.to_vec(), tensor.to_vec::<f32>().unwrap()));
        }
    }
    tensors
}

fn bits(tensors: &[(Vec<usize>, Vec<f32>)]) -> Vec<u32> {
    tensors
        .iter()
        .flat_map(|(_, values)| values.iter().map(|v| v.to_bits()))
        .collect()
}

/// `[rows, cols]` row-major values, transposed.
fn transpose(shape: &[usize], values: &[f32]) -> Vec<f32> {
    let (rows, cols) = (shape[0], shape[1]);
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| values[r * cols + c]))
        .collect()
}

/// A safetensors file of named tensors, written with the format's own crate.
fn write_file(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None).unwrap();
    fs::write(path, bytes).unwrap();
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A file of the right names with `hidden` units in PyTorch's layout, each tensor filled with
/// small distinct values; `change` edits the list of (name, type, shape) before it is written.
fn pytorch_file(
    path: &Path,
    hidden: usize,
    change: impl FnOnce(&mut Vec<(&'static str, Dtype, Vec<usize>)>),
) {
    let mut specs = vec![
        ("encoder.weight", Dtype::F32, vec![hidden, 784]),
        ("encoder.bias", Dtype::F32, vec![hidden]),
        ("decoder.weight", Dtype::F32, vec![784, hidden]),
        ("decoder.bias", Dtype::F32, vec![784]),
    ];
    change(&mut specs);
    let tensors: Vec<_> = specs
        .into_iter()
        .map(|(name, dtype, shape)| {
            let count: usize = shape.iter().product();
            let values: Vec<f32> = (0..count).map(|i| (i % 97) as f32 / 97.0 - 0.5).collect();
            let bytes = match dtype {
                Dtype::F64 => values
                    .iter()
                    .flat_map(|&v| f64::from(v).to_le_bytes())
                    .collect(),
                _ => f32_bytes(&values),
            };
            (name, dtype, shape, bytes)
        })
        .collect();
    write_file(path, &tensors);
}

/// `import --from from --output out`, run from `cwd`.
fn import(cwd: &Path, from: &Path, out: &Path) -> Output {
    let (from, out) = (from.to_str().unwrap(), out.to_str().unwrap());
    run_in(cwd, &["import", "--from", from, "--output", out])
}

/// The `Test MSE = x` of `evaluate --model dir`.
fn evaluate(cwd: &Path, dir: &Path, data: &Path) -> f64 {
    let output = run_in(
        cwd,
        &[
            "evaluate",
            "--model",
            dir.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "evaluate: {}", stderr(&output));
    let text = stdout(&output);
    let mse = text
        .split("Test MSE = ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no Test MSE in: {text}"));
    mse.parse().unwrap()
}

fn export_round_trips_bit_for_bit_in_pytorch_layout(data: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_ok(tmp.path(), data, &run, &SMALL);
    let output = run_in(tmp.path(), &["export", "--model", run.to_str().unwrap()]);
    assert!(output.status.success(), "export: {}", stderr(&output));
    let file = run.join("model.safetensors");

    // What PyTorch would read: [out, in] weights under the names a reader would guess.
    let ours = burn_tensors(&run);
    let bytes = fs::read(&file).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let names = [
        "encoder.weight",
        "encoder.bias",
        "decoder.weight",
        "decoder.bias",
    ];
    for (name, (shape, values)) in names.iter().zip(&ours) {
        let tensor = st.tensor(name).unwrap();
        assert_eq!(tensor.dtype(), Dtype::F32, "{name}");
        let read: Vec<f32> = tensor
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        if shape.len() == 2 {
            assert_eq!(tensor.shape(), [shape[1], shape[0]], "{name}");
            assert_eq!(read, transpose(shape, values), "{name}");
        } else {
            assert_eq!(tensor.shape(), &shape[..], "{name}");
            assert_eq!(&read, values, "{name}");
        }
    }
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata: HashMap<String, String> = header.metadata().clone().unwrap();
    assert_eq!(metadata["layout"], "pytorch");
    assert_eq!(metadata["hidden_size"], "32");
    assert_eq!(metadata["init"], "normal");
    assert_eq!(metadata["dataset"], "MNIST");
    assert_eq!(metadata["epochs"], "1");
    let exported_mse: f64 = metadata["test_mse"].parse().unwrap();
    let evaluated = evaluate(tmp.path(), &run, data);
    assert!(
        (exported_mse - evaluated).abs() < 1e-6,
        "metadata {exported_mse} vs evaluate {evaluated}"
    );

    // Back in: the same bits, and the same test MSE from the imported run.
    let imported = tmp.path().join("imported");
    let output = import(tmp.path(), file.as_ref(), imported.as_ref());
    assert!(output.status.success(), "import: {}", stderr(&output));
    assert!(
        stdout(&output).contains("pytorch layout"),
        "{}",
        stdout(&output)
    );
    assert_eq!(bits(&burn_tensors(&imported)), bits(&ours));
    assert_eq!(evaluate(tmp.path(), &imported, data), evaluated);

    // Burn's own [in, out] layout reads to the same model.
    let burn_file = tmp.path().join("burn.safetensors");
    let tensors: Vec<_> = names
        .iter()
        .zip(&ours)
        .map(|(name, (shape, values))| (*name, Dtype::F32, shape.clone(), f32_bytes(values)))
        .collect();
    write_file(&burn_file, &tensors);
    let from_burn = tmp.path().join("from-burn");
    let output = import(tmp.path(), burn_file.as_ref(), from_burn.as_ref());
    assert!(output.status.success(), "import: {}", stderr(&output));
    assert!(
        stdout(&output).contains("burn layout"),
        "{}",
        stdout(&output)
    );
    assert_eq!(bits(&burn_tensors(&from_burn)), bits(&ours));
}

/// With shuffling off, a run started from a file depends on nothing else the seed draws: two
/// seeds give the same costs. Started from the seed's own draw, they differ.
fn train_init_from_replaces_the_drawn_weights(data: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let start = tmp.path().join("start.safetensors");
    pytorch_file(&start, 32, |_| {});
    let run = |name: &str, seed: &str, init: bool| {
        let out = tmp.path().join(name);
        let seed = format!("training.seed={seed}");
        let mut flags = vec![&seed[..], "data.shuffle=false"];
        flags.extend(SMALL);
        let init_flag = format!("model.init_from=\"{}\"", start.display());
        if init {
            flags.push(&init_flag);
        }
        train_ok(tmp.path(), data, &out, &flags);
        let costs = cost_bits(&out);
        assert_eq!(costs.len(), 1, "one epoch in metrics.csv");
        costs
    };
    assert_eq!(run("a", "1", true), run("b", "2", true));
    assert_ne!(run("c", "1", false), run("d", "2", false));

    // The flag sets the key; the run folder records where the weights came from.
    let out = tmp.path().join("flag");
    let output = run_in(
        tmp.path(),
        &[
            "train",
            "--init-from",
            start.to_str().unwrap(),
            "--set",
            &format!("data.dir={}", data.display()),
            "--set",
            &format!("output.dir={}", out.display()),
            "--set",
            "output.dashboard=plain",
            "--set",
            "data.download=false",
            "--set",
            "data.shuffle=false",
            "--set",
            "training.seed=1",
            "--set",
            SMALL[0],
            "--set",
            SMALL[1],
            "--set",
            SMALL[2],
            "--set",
            SMALL[3],
        ],
    );
    assert!(output.status.success(), "train: {}", stderr(&output));
    assert_eq!(cost_bits(&out), run("e", "1", true));
    let config = fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("start.safetensors"), "{config}");
}

/// `import` and `train --init-from` refuse each broken file in one line, naming it, and leave
/// no run folder behind.
fn a_wrong_file_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("w.safetensors");
    let file = path.to_str().unwrap();
    let out = tmp.path().join("out");
    let import = |needles: &[&str]| {
        let output = import(tmp.path(), file.as_ref(), out.as_ref());
        assert_one_line_error(&output, needles);
        assert!(!out.exists(), "a run folder was left: {needles:?}");
    };

    pytorch_file(&path, 32, |t| t[2].2 = vec![784, 31]);
    import(&[
        "w.safetensors",
        "'decoder.weight'",
        "[784, 31]",
        "[784, 32]",
    ]);

    pytorch_file(&path, 32, |t| {
        t.remove(3);
    });
    import(&[
        "w.safetensors",
        "no tensor 'decoder.bias'",
        "encoder.weight",
    ]);

    pytorch_file(&path, 32, |t| t[1].1 = Dtype::F64);
    import(&["w.safetensors", "'encoder.bias'", "F64", "float32"]);

    pytorch_file(&path, 32, |t| t[0].2 = vec![32, 700]);
    import(&["w.safetensors", "'encoder.weight'", "[32, 700]", "784"]);

    pytorch_file(&path, 32, |_| {});
    let whole = fs::read(&path).unwrap();
    fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    import(&["w.safetensors", "not a whole safetensors file"]);

    fs::write(&path, b"not tensors at all").unwrap();
    import(&["w.safetensors", "not a whole safetensors file"]);

    fs::remove_file(&path).unwrap();
    import(&["w.safetensors", "cannot read"]);

    // A file for another hidden size than the config's: one line before any data is read.
    pytorch_file(&path, 64, |_| {});
    let output = run_in(
        tmp.path(),
        &[
            "train",
            "--init-from",
            file,
            "--set",
            &format!("output.dir={}", out.display()),
            "--set",
            "data.dir=nowhere",
            "--set",
            "output.dashboard=plain",
        ],
    );
    assert_one_line_error(
        &output,
        &["w.safetensors", "[64, 784]", "model.hidden_size = 256"],
    );
    assert!(
        !out.join("config.toml").exists(),
        "a failed start left a config"
    );
}

/// `import` into a folder that holds a run would replace it: refused.
fn import_keeps_an_existing_run() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("w.safetensors");
    pytorch_file(&path, 32, |_| {});
    let out = tmp.path().join("out");
    let import = || import(tmp.path(), path.as_ref(), out.as_ref());
    let first = import();
    assert!(first.status.success(), "import: {}", stderr(&first));
    let model = fs::read(out.join("model.mpk")).unwrap();
    let suggestion = format!("e.g. --output {}-2", out.display());
    assert_one_line_error(&import(), &["already holds a run", &suggestion]);
    assert_eq!(fs::read(out.join("model.mpk")).unwrap(), model);
}

crate::trials![
    // They train (for a second each on ndarray; on lavapipe far longer).
    #[cfg(not(feature = "wgpu"))]
    mnist export_round_trips_bit_for_bit_in_pytorch_layout,
    #[cfg(not(feature = "wgpu"))]
    mnist train_init_from_replaces_the_drawn_weights,
    plain a_wrong_file_is_one_line,
    plain import_keeps_an_existing_run,
];
