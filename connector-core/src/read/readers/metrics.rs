//! `campaigns_metrics` and `experiments_metrics`: the campaign ids (paged),
//! then CSV metrics for batches of ids.

use serde_json::Value;

use crate::error::Result;
use crate::exchange::Record;
use crate::exchange::endpoint::Endpoint;
use crate::read::reader::{Ctx, Next, Reader, Sink};
use crate::read::readers::paged::{Pager, as_record};
use crate::record::shape_csv_row;

/// Campaign ids per metrics request: keeps the URL well under common limits.
pub(crate) const METRICS_BATCH: usize = 100;

enum MetricsPhase {
    Campaigns,
    Metrics(usize),
}

pub(crate) struct MetricsReader {
    metrics: Endpoint,
    phase: MetricsPhase,
    campaigns: Pager,
    ids: Vec<i64>,
}

impl MetricsReader {
    pub(crate) fn new(campaigns: Endpoint, metrics: Endpoint) -> Self {
        MetricsReader {
            metrics,
            phase: MetricsPhase::Campaigns,
            campaigns: Pager::new(campaigns, "campaigns", 1000, false),
            ids: Vec::new(),
        }
    }
}

impl Reader for MetricsReader {
    fn next(&mut self, ctx: &Ctx) -> Result<Next> {
        match self.phase {
            MetricsPhase::Campaigns if !self.campaigns.finished() => {
                Ok(Next::Send(self.campaigns.request(ctx.config)))
            }
            MetricsPhase::Campaigns => {
                self.phase = MetricsPhase::Metrics(0);
                self.next(ctx)
            }
            MetricsPhase::Metrics(batch) => {
                let start = batch * METRICS_BATCH;
                if start >= self.ids.len() {
                    return Ok(Next::Done);
                }
                let end = (start + METRICS_BATCH).min(self.ids.len());
                let mut q: Vec<(&str, String)> = self.ids[start..end]
                    .iter()
                    .map(|id| ("campaignId", id.to_string()))
                    .collect();
                // Lifetime aggregates: metrics are totals, not rows to window.
                q.push(("startDateTime", "1970-01-01".into()));
                Ok(Next::Send(self.metrics.plan(ctx.config, &[], &q)))
            }
        }
    }

    fn on_item(&mut self, item: Value, _ctx: &Ctx, sink: &mut Sink) -> Result<()> {
        match self.phase {
            MetricsPhase::Campaigns => {
                for rec in self.campaigns.page_records(&item)? {
                    if let Some(id) = rec.get("id").and_then(Value::as_i64) {
                        self.ids.push(id);
                    }
                }
            }
            MetricsPhase::Metrics(_) => sink
                .records
                .push(with_key_fields(shape_csv_row(as_record(item)?))),
        }
        Ok(())
    }

    fn on_complete(&mut self, _ctx: &Ctx, _sink: &mut Sink) -> Result<()> {
        match self.phase {
            MetricsPhase::Campaigns => self.campaigns.advance(),
            MetricsPhase::Metrics(b) => self.phase = MetricsPhase::Metrics(b + 1),
        }
        Ok(())
    }
}

/// The CSV names its id columns as words (`Experiment Id`, `Template Id`,
/// `Campaign Id`); the stream's keys are `experimentId`, `templateId`,
/// `campaignId`: add them (the CSV's own columns stay).
fn with_key_fields(mut rec: Record) -> Record {
    for (key, header, snake) in [
        ("experimentId", "Experiment Id", "experiment_id"),
        ("templateId", "Template Id", "template_id"),
        ("campaignId", "Campaign Id", "campaign_id"),
    ] {
        if rec.get(key).is_none_or(Value::is_null)
            && let Some(v) = rec
                .get(header)
                .or_else(|| rec.get(snake))
                .filter(|v| !v.is_null())
                .cloned()
        {
            rec.insert(key.into(), v);
        }
    }
    rec
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn csv_id_columns_give_the_key_fields() {
        let rec =
            json!({"Experiment Id": 7, "Template Id": 9, "Campaign Id": 3, "Type": "Control"});
        let out = with_key_fields(rec.as_object().cloned().unwrap());
        assert_eq!(
            (&out["experimentId"], &out["templateId"], &out["campaignId"]),
            (&json!(7), &json!(9), &json!(3))
        );
        assert_eq!(out["Experiment Id"], 7);
        // Campaign metrics key on `id`: nothing to add.
        let out = with_key_fields(json!({"id": 5}).as_object().cloned().unwrap());
        assert_eq!(out.len(), 1);
    }
}
