//! The command line's definition and its handling of bad flags.

use clap::{CommandFactory, Parser};
use mnist_autoencoder::cli::{Cli, Command, ConfigArgs, TrainArgs};

use crate::common::{BIN, assert_one_line_error};

fn the_cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

fn train_takes_a_config_and_repeated_sets() {
    let cli = Cli::try_parse_from([
        "mnist-autoencoder",
        "train",
        "--config",
        "c.toml",
        "--set",
        "a.b=1",
        "--set",
        "c.d=x",
    ])
    .unwrap();
    let Command::Train(TrainArgs {
        config: ConfigArgs { config, sets },
        resume,
        init_from,
    }) = cli.command
    else {
        panic!("not train")
    };
    assert_eq!(config.unwrap().to_str(), Some("c.toml"));
    assert_eq!(sets, ["a.b=1", "c.d=x"]);
    assert_eq!(resume, None);
    assert_eq!(init_from, None);
}

fn samples_out_of_range_are_rejected() {
    assert!(Cli::try_parse_from(["x", "reconstruct", "--model", "m", "--samples", "0"]).is_err());
    assert!(Cli::try_parse_from(["x", "reconstruct", "--model", "m", "--samples", "101"]).is_err());
}

fn an_unknown_flag_is_one_line_and_exit_code_1() {
    let output = std::process::Command::new(BIN)
        .args(["train", "--epochs", "3"])
        .output()
        .unwrap();
    assert_one_line_error(&output, &["'--epochs'", "see --help"]);
}

crate::trials![
    plain the_cli_definition_is_consistent,
    plain train_takes_a_config_and_repeated_sets,
    plain samples_out_of_range_are_rejected,
    plain an_unknown_flag_is_one_line_and_exit_code_1,
];
