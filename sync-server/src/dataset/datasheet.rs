//! The datasheet of a dataset release, in Markdown: the sections and questions of Gebru et
//! al., "Datasheets for Datasets" (Communications of the ACM 64(12), 2021), answered from
//! the release's manifest where the data can answer them (composition, collection,
//! preprocessing, known imbalances) and from what Inkset does everywhere else (how drawings
//! are captured, validated and scored). Nothing in it is invented per release: a question
//! the data cannot answer says so, for the publisher to fill in.

use std::collections::BTreeMap;
use std::fmt::Write;

use inkset_protocol::api::ReleaseManifest;
use inkset_protocol::quickdraw::format_timestamp_ms;

fn share(n: u64, total: u64) -> String {
    if total == 0 {
        return "0 %".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let p = n as f64 * 100.0 / total as f64;
    format!("{p:.1} %")
}

fn table(out: &mut String, heading: &str, rows: &BTreeMap<String, u64>, total: u64) {
    let _ = writeln!(out, "| {heading} | drawings | share |\n|---|---:|---:|");
    for (k, n) in rows {
        let _ = writeln!(out, "| {k} | {n} | {} |", share(*n, total));
    }
    out.push('\n');
}

/// What a reader should know about the balance of the classes: the largest over the
/// smallest, and any class under a tenth of the largest.
fn imbalance(per_class: &BTreeMap<String, u64>) -> Option<String> {
    let (max_k, max) = per_class.iter().max_by_key(|(_, n)| **n)?;
    let (min_k, min) = per_class.iter().min_by_key(|(_, n)| **n)?;
    if *min == 0 || max == min {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = *max as f64 / *min as f64;
    let small: Vec<&str> = per_class
        .iter()
        .filter(|(_, n)| **n * 10 < *max)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut text = format!(
        "The classes are not balanced: `{max_k}` has {max} drawings and `{min_k}` {min} \
         ({ratio:.1} to 1)."
    );
    if !small.is_empty() {
        let _ = write!(
            text,
            " Under a tenth of the largest class: {}. A model trained on this release without \
             re-weighting will under-serve them.",
            small
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Some(text)
}

/// The datasheet of `m`, published by `publisher`.
#[allow(clippy::too_many_lines)]
pub fn write(m: &ReleaseManifest, publisher: &str) -> String {
    let n = m.drawing_count;
    let mut out = String::new();
    let _ = writeln!(out, "# Datasheet: Inkset dataset release `{}`\n", m.name);
    let _ = writeln!(
        out,
        "Cut {} by {}; {n} drawings; release id `{}`; drawings sha256 `{}` (of the sorted \
         lines `<drawing id> <content hash>`).\n",
        format_timestamp_ms(m.created_at),
        m.created_by.as_deref().unwrap_or("an admin"),
        m.id,
        m.ids_sha256
    );

    out.push_str("## Motivation\n\n");
    out.push_str(
        "- **For what purpose was the dataset created?** To train and evaluate recognizers and \
         generators of hand-drawn shapes (Inkset's prompted shapes and, as an `unknown` \
         class, distractor words).",
    );
    if m.description.trim().is_empty() {
        out.push_str(" The admin who cut it gave no further purpose.\n");
    } else {
        let _ = writeln!(
            out,
            " The admin who cut it wrote: \"{}\"",
            m.description.trim()
        );
    }
    let _ = writeln!(
        out,
        "- **Who created it?** {publisher}, with Inkset (players of Inkset Draw and any \
         imported public datasets, listed under Composition).\n- **Who funded it?** Not \
         recorded by the software; the publisher should state it.\n"
    );

    out.push_str("## Composition\n\n");
    let _ = writeln!(
        out,
        "- **What do the instances represent?** One drawing each: the strokes a person drew \
         for a prompted word (points with x, y in canvas pixels, and for most, pressure and \
         time), with the prompt as its label.\n- **How many instances?** {n}.\n"
    );
    table(&mut out, "class", &m.per_class, n);
    if let Some(text) = imbalance(&m.per_class) {
        let _ = writeln!(out, "{text}\n");
    }
    table(&mut out, "source", &m.per_source, n);
    out.push_str(
        "`inkset`: drawn by players in Inkset Draw. `quickdraw`: Google's Quick, Draw! \
         dataset (CC BY 4.0). Other sources are imported derived sets named by their \
         records' provenance.\n\n",
    );
    table(&mut out, "input device", &m.per_device, n);
    if !m.per_country.is_empty() {
        let imported: u64 = m.per_country.values().sum();
        let _ = writeln!(
            out,
            "Country codes of the {imported} imported drawings (as their dataset gives them; \
             `??` when it gives none):\n"
        );
        table(&mut out, "country", &m.per_country, imported);
    }
    let _ = writeln!(
        out,
        "- **Is any information missing?** Quality scores: {} of {n} drawings unscored at \
         the cut. Imported drawings carry no device, pressure or player session.\n- **Are \
         there relationships between instances?** Drawings by the same player share a \
         session id ({} sessions contributed); the split of any model trained on it must \
         keep a player's drawings together to measure generalisation to new players.\n- \
         **Does it contain data that might be considered confidential or that identifies \
         people?** Drawings hold no names. Player uploads carry a session id, a device class \
         and a user agent string; imported Quick, Draw! records carry a country code and a \
         timestamp.\n",
        m.quality.unscored, m.sessions
    );

    out.push_str("## Collection process\n\n");
    let period = match (m.received_from, m.received_to) {
        (Some(a), Some(b)) => format!("{} to {}", format_timestamp_ms(a), format_timestamp_ms(b)),
        _ => "unknown".into(),
    };
    let _ = writeln!(
        out,
        "- **How was the data acquired?** Players are prompted for a shape and draw it with a \
         mouse, finger or pen within a timed round; the app records every pointer sample \
         (position, pressure, time) and uploads the drawing when online (an offline outbox \
         keeps it until then). Imported records come from the public datasets named above.\n\
         - **Over what timeframe?** Received by the server {period}.\n- **Sampling:** the \
         release holds every stored drawing the filter below matched at the cut; no further \
         sampling.\n- **Filter:** `{}`\n",
        serde_json::to_string(&m.filter).unwrap_or_default()
    );

    out.push_str("## Preprocessing, cleaning and labelling\n\n");
    let q = &m.quality;
    let mean = q.mean.map_or_else(
        || "no drawing scored".to_owned(),
        |v| format!("mean {v:.3}"),
    );
    let _ = writeln!(
        out,
        "- Every drawing was validated on receipt (finite coordinates within the canvas and \
         its margin, increasing timestamps, limits on strokes and points) and stored \
         losslessly; nothing is resampled or simplified in the release itself (the Quick, \
         Draw! simplified export applies Google's recipe on the way out).\n- **Labels** are \
         the prompted word, not a judgement of the drawing.\n- **Quality score** (heuristics \
         times the production recognizer's probability for the prompt, or an admin's score): \
         {mean} over {} scored drawings; histogram of tenths, 0.0-0.1 first: {:?}.\n- \
         **Flagged** by admins and still in the release (the filter allowed them): {} ({}).\n",
        q.scored,
        q.histogram,
        m.flagged,
        share(m.flagged, n)
    );

    out.push_str("## Uses\n\n");
    out.push_str(
        "- **Intended:** training and evaluating sketch recognition and generation models; \
         Inkset training jobs can name this release, and the resulting model's manifest \
         names it back.\n- **Not intended:** identifying or profiling people; judging the \
         skill of individual players.\n\n",
    );

    out.push_str("## Distribution\n\n");
    let _ = writeln!(
        out,
        "- **License:** {}\n- **Formats:** Quick, Draw! raw and simplified ndjson, PNG \
         rasters with `labels.csv`, Sketch-RNN stroke-3, Apache Parquet (export with the \
         filter `release={}`).\n",
        m.license, m.name
    );

    out.push_str("## Maintenance\n\n");
    out.push_str(
        "- **Will it be updated?** Never: a release is immutable. Later data goes into a new \
         release, and `GET /api/admin/releases/{new}/diff/{old}` lists what was added and \
         removed per class.\n- **Errata and withdrawals:** a drawing removed after the cut \
         stays in this release; a withdrawal needs a new release without it.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imbalance_names_the_small_classes() {
        let per: BTreeMap<String, u64> = [("circle", 1000), ("heart", 50), ("line", 400)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let text = imbalance(&per).unwrap_or_default();
        assert!(text.contains("`circle` has 1000"), "{text}");
        assert!(text.contains("20.0 to 1"), "{text}");
        assert!(
            text.contains("`heart`") && !text.contains("`line`."),
            "{text}"
        );
        let even: BTreeMap<String, u64> = [("a".to_owned(), 5), ("b".to_owned(), 5)].into();
        assert_eq!(imbalance(&even), None);
    }
}
