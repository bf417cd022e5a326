//! `courtyard-workers`: the workers alone, for deployments that run them apart from the API
//! (the same as `courtyard workers`). The database must already be migrated.

use anyhow::Context;
use courtyard_api::telemetry;
use courtyard_domain::{Settings, settings::LogFormat};

// glibc's allocator spends a third of a busy process's CPU in malloc/free (measured with
// perf under the benchmarks); mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::Json);
    let settings = Settings::load(None)
        .map_err(|e| anyhow::anyhow!(e))
        .context("loading settings")?;
    courtyard::run_workers(settings).await
}
