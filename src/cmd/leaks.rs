//! `heapmortem leaks`.

use crate::args::LeaksArgs;
use crate::Outcome;

pub fn run(_args: LeaksArgs) -> anyhow::Result<Outcome> {
    super::not_built("leaks")
}
