//! ImaginePro's operations and their credit prices, as data.
//!
//! ImaginePro is priced per operation (an imagine, a button press, an upscale), not per model:
//! `data/imaginepro-models.tsv` is the skill's credits table with the paths each operation is
//! sent to in both path families (`/midjourney/*` and `/nova/*`). A price the provider never
//! published is `None` here, never zero: conjure quotes such an operation as "price not
//! published" and does not guess. No dollar price per credit is published either; it is a
//! setting (`[imaginepro] usd_per_credit`).

use std::sync::OnceLock;

use crate::catalogue::CatalogueError;
use crate::money::Credits;

const IMAGINEPRO_TSV: &str = include_str!("../../data/imaginepro-models.tsv");

/// What one price is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    PerJob,
    PerPress,
    PerImage,
    PerCall,
    PerRequest,
    PerVideo,
    PerPoll,
}

impl Unit {
    fn parse(s: &str) -> Option<Unit> {
        Some(match s {
            "per_job" => Unit::PerJob,
            "per_press" => Unit::PerPress,
            "per_image" => Unit::PerImage,
            "per_call" => Unit::PerCall,
            "per_request" => Unit::PerRequest,
            "per_video" => Unit::PerVideo,
            "per_poll" => Unit::PerPoll,
            _ => return None,
        })
    }
}

/// One row of the table: an operation (with the model it sends, if any) and its price.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Operation {
    /// `mj_imagine_fast`, `flux_imagine`, `remove_bg`, ...
    pub operation: String,
    /// The body's `model` value, or the skill's name for endpoints without one; `None` for `-`.
    pub model: Option<String>,
    pub method: String,
    /// Relative to `/api/v1`, in the family the skill uses.
    pub path: String,
    /// The same operation in the SDKs' family (`/nova/*`, `/message/fetch/*`), if it has one.
    pub alt_path: Option<String>,
    /// `None`: not published. `Some(ZERO)`: free.
    pub credits: Option<Credits>,
    pub unit: Unit,
    pub notes: String,
}

/// Every ImaginePro operation, parsed once from the compiled-in table.
pub fn operations() -> &'static [Operation] {
    static OPS: OnceLock<Vec<Operation>> = OnceLock::new();
    OPS.get_or_init(|| parse(IMAGINEPRO_TSV).expect("the bundled table is checked by a unit test"))
}

/// The operation named `operation` sending `model` (`None`: the first row of that operation).
pub fn operation(operation: &str, model: Option<&str>) -> Option<&'static Operation> {
    operations()
        .iter()
        .find(|o| o.operation == operation && model.is_none_or(|m| o.model.as_deref() == Some(m)))
}

fn dash(s: &str) -> Option<&str> {
    let s = s.trim();
    if s.is_empty() || s == "-" { None } else { Some(s) }
}

/// Parses a table in the format of `data/imaginepro-models.tsv`.
pub fn parse(text: &str) -> Result<Vec<Operation>, CatalogueError> {
    let mut out = Vec::new();
    let mut header = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header {
            header = true;
            continue;
        }
        let bad = |reason: String| CatalogueError::Malformed { line: i + 1, reason };
        let cols: Vec<&str> = line.split('\t').collect();
        let [operation, model, method, path, alt_path, credits, unit, _helper, notes] = cols[..]
        else {
            return Err(bad(format!("expected 9 tab-separated columns, found {}", cols.len())));
        };
        let credits = match credits.trim() {
            "unknown" => None,
            c => Some(c.parse::<Credits>().map_err(|e| bad(format!("`{operation}`: {e}")))?),
        };
        out.push(Operation {
            operation: operation.to_owned(),
            model: dash(model).map(str::to_owned),
            method: method.to_owned(),
            path: path.to_owned(),
            alt_path: dash(alt_path).map(str::to_owned),
            credits,
            unit: Unit::parse(unit).ok_or_else(|| bad(format!("unknown unit `{unit}`")))?,
            notes: notes.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_parses_with_its_documented_prices() {
        let ops = operations();
        assert_eq!(ops.len(), 23);
        let price = |op: &str, model: Option<&str>| operation(op, model).unwrap().credits;
        assert_eq!(price("mj_imagine_fast", None), Some(Credits::whole(10)));
        assert_eq!(price("mj_imagine_relax", None), Some(Credits::whole(5)));
        assert_eq!(price("mj_button_upscale", None), Some(Credits::whole(5)));
        assert_eq!(price("mj_button_other", None), None, "not published, not free");
        assert_eq!(price("flux_imagine", None), Some(Credits::whole(6)));
        assert_eq!(price("universal_imagine", Some("nano-banana-2")), Some(Credits::whole(6)));
        assert_eq!(price("universal_imagine", Some("nano-banana")), None);
        assert_eq!(price("prompt_extend", None), Some(Credits::ZERO));
        let fetch = operation("message_fetch", None).unwrap();
        assert_eq!(fetch.alt_path.as_deref(), Some("/message/fetch/{messageId}"));
        assert_eq!(operation("flux_imagine", None).unwrap().unit, Unit::PerImage);
    }
}
