//! `--report FILE`: a perf test's picture, an SVG with the throughput of
//! every second of the run above and the latency percentile curve below
//! (percentiles on a log scale of nines, so p99.9 and p99.99 get as much
//! room as the median), and the run's labels (acks, compression, batch
//! size, the broker's flush setting, how latency was measured) under the
//! title. Drawn with plotters' SVG backend only.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::common::ToolError;

pub struct Picture<'a> {
    pub title: String,
    /// One line each, printed under the title.
    pub labels: Vec<String>,
    /// (seconds since start, MB/s) at the start of each interval.
    pub throughput: Vec<(f64, f64)>,
    /// The run's length: where the last interval ends.
    pub elapsed_seconds: f64,
    /// Latencies in microseconds, and what they measure (axis caption).
    pub latency: Option<(&'a Histogram<u64>, String)>,
}

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 820;
/// The percentile axis ends at five nines (p99.999).
const NINES_MAX: f64 = 5.0;

pub fn write_svg(path: &Path, picture: &Picture<'_>) -> Result<(), ToolError> {
    draw(path, picture)
        .map_err(|error| ToolError::Failed(format!("--report {}: {error}", path.display())))
}

fn draw(path: &Path, picture: &Picture<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        picture.title.clone(),
        (20, 12),
        ("sans-serif", 22).into_font(),
    ))?;
    for (i, label) in picture.labels.iter().enumerate() {
        root.draw(&Text::new(
            label.clone(),
            (20, 42 + 18 * i as i32),
            ("sans-serif", 13).into_font().color(&RGBColor(60, 60, 60)),
        ))?;
    }
    let header = 50 + 18 * picture.labels.len() as u32;
    let (_, body) = root.split_vertically(header);
    let (upper, lower) = body.split_vertically((HEIGHT - header) / 2);
    draw_throughput(&upper, &picture.throughput, picture.elapsed_seconds)?;
    match &picture.latency {
        Some((histogram, caption)) => draw_latency(&lower, histogram, caption)?,
        None => {
            lower.draw(&Text::new(
                "no latency recorded".to_string(),
                (40, 40),
                ("sans-serif", 16).into_font(),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

fn draw_throughput<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[(f64, f64)],
    elapsed: f64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let seconds = elapsed.max(1e-3);
    let peak = points.iter().map(|(_, rate)| *rate).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "throughput over the run (intervals of 0.1 s or more)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds, 0.0..(peak * 1.1).max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("MB/s (2^20 bytes)")
        .draw()?;
    // Each interval's rate is drawn across that interval (a step line).
    let ends = points
        .iter()
        .skip(1)
        .map(|(from, _)| *from)
        .chain(std::iter::once(seconds));
    let steps = points
        .iter()
        .zip(ends)
        .flat_map(|((from, rate), to)| [(*from, *rate), (to, *rate)]);
    chart.draw_series(LineSeries::new(steps, &BLUE))?;
    Ok(())
}

fn draw_latency<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    histogram: &Histogram<u64>,
    caption: &str,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // x = number of nines: 0 is p0, 1 is p90, 2 is p99, 3 is p99.9 ...
    let points: Vec<(f64, f64)> = (0..=(NINES_MAX * 40.0) as u32)
        .map(|step| {
            let nines = f64::from(step) / 40.0;
            let quantile = 1.0 - 10f64.powf(-nines);
            let millis = histogram.value_at_quantile(quantile) as f64 / 1000.0;
            (nines, millis)
        })
        .collect();
    let highest = points.iter().map(|(_, ms)| *ms).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..NINES_MAX, 0.0..(highest * 1.1).max(0.01))?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|nines| percentile_label(*nines))
        .x_desc("percentile")
        .y_desc("latency, ms")
        .draw()?;
    chart.draw_series(LineSeries::new(points, &RED))?;
    Ok(())
}

fn percentile_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    match nines.round() as i32 {
        0 => "p0".into(),
        1 => "p90".into(),
        2 => "p99".into(),
        n if (nines - f64::from(n)).abs() < 1e-6 => format!("p{percent:.*}", (n - 2) as usize),
        _ => format!("p{percent:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_count_nines() {
        assert_eq!(percentile_label(0.0), "p0");
        assert_eq!(percentile_label(1.0), "p90");
        assert_eq!(percentile_label(2.0), "p99");
        assert_eq!(percentile_label(3.0), "p99.9");
        assert_eq!(percentile_label(5.0), "p99.999");
    }

    #[test]
    fn a_picture_is_an_svg_with_its_labels() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for micros in 1..10_000u64 {
            histogram.record(micros).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.svg");
        let picture = Picture {
            title: "producer-perf-test".into(),
            labels: vec!["acks=1 compression.type=none batch.size=16384".into()],
            throughput: vec![(0.0, 10.0), (1.0, 12.5), (2.0, 11.0)],
            elapsed_seconds: 2.5,
            latency: Some((&histogram, "latency from send to acknowledgement".into())),
        };
        write_svg(&path, &picture).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("acks=1 compression.type=none batch.size=16384"));
        assert!(svg.contains("latency from send to acknowledgement"));
        assert!(svg.contains("<polyline"), "no curve drawn");
    }
}
