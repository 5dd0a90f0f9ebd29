//! `heapmortem profile`.

use crate::args::ProfileArgs;
use crate::Outcome;

pub fn run(_args: ProfileArgs) -> anyhow::Result<Outcome> {
    super::not_built("profile")
}
