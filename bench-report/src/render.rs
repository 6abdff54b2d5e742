//! Rendering: markdown tables, number formatting, growth classification and
//! the one scaling-table layout every cure's scaling section uses.

use std::fmt::Write as _;
use std::time::Duration;

/// Nanoseconds, in the unit that reads best.
pub fn ns(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} µs", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0} ns")
    } else {
        format!("{v:.1} ns")
    }
}

/// A duration, as [`ns`] writes it.
pub fn dur(d: Duration) -> String {
    ns(d.as_nanos() as f64)
}

/// A count, with `k` / `M` when it is round.
pub fn count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// A markdown table being built.
pub struct Table {
    out: String,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        Table { out }
    }
    pub fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.out, "| {} |", cells.join(" | "));
    }
    pub fn done(self) -> String {
        self.out
    }
}

/// "guard / baseline" as the headline ratio, with a word on which is cheaper.
pub fn ratio(guard: f64, base: f64) -> String {
    let r = guard / base;
    // Three significant digits, so that 0.00012x does not print as 0.00x.
    let digits = if r >= 1.0 {
        2
    } else {
        (2 - r.log10().floor() as i32).max(2) as usize
    };
    if r < 1.0 {
        let times = 1.0 / r;
        let td = if times >= 10.0 { 0 } else { 1 };
        format!("**{r:.digits$}x** ({times:.td$}x cheaper)")
    } else {
        format!("**{r:.digits$}x**")
    }
}

/// "met", or a bold "missed".
pub fn met(ok: bool) -> String {
    if ok {
        "met".into()
    } else {
        "**missed**".into()
    }
}

/// Classifies how cost per operation grows with `n`, from the data: the
/// least-squares slope `b` of ln(cost) over ln(n) (cost ∝ n^b), fitted over
/// the points with n >= 100 (n = 1 is dominated by fixed costs and a hot
/// cache). b < 0.1: flat; b > 0.75: linear; in between, whichever of
/// `a + c·ln n` (logarithmic) and `k·n^b` (power) leaves the smaller squared
/// error is named.
pub fn growth(points: &[(usize, f64)]) -> String {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(n, _)| *n >= 100)
        .map(|&(n, c)| (n as f64, c))
        .collect();
    if pts.len() < 3 {
        return "too few points".into();
    }
    let fit = |xs: &[f64], ys: &[f64]| {
        let m = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / m, ys.iter().sum::<f64>() / m);
        let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        let slope = sxy / sxx;
        (slope, my - slope * mx)
    };
    let lx: Vec<f64> = pts.iter().map(|p| p.0.ln()).collect();
    let ly: Vec<f64> = pts.iter().map(|p| p.1.ln()).collect();
    let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let (b, a) = fit(&lx, &ly);
    let first = pts.first().unwrap();
    let last = pts.last().unwrap();
    let span = format!(
        "cost/op x{:.2} from n={} to n={}, slope {b:.2}",
        last.1 / first.1,
        count(first.0 as usize),
        count(last.0 as usize)
    );
    let class = if b < 0.1 {
        "**flat**"
    } else if b > 0.75 {
        "**linear** per op"
    } else {
        let (c, a_log) = fit(&lx, &ys);
        let sse_log: f64 = lx
            .iter()
            .zip(&ys)
            .map(|(x, y)| (a_log + c * x - y).powi(2))
            .sum();
        let sse_pow: f64 = lx
            .iter()
            .zip(&ys)
            .map(|(x, y)| ((a + b * x).exp() - y).powi(2))
            .sum();
        if sse_log <= sse_pow {
            "**logarithmic**"
        } else {
            "**sub-linear power**"
        }
    };
    format!("{class} ({span})")
}

/// Writes a scaling table's target line from the medians of its 100k row.
pub type Target<'a> = &'a dyn Fn(&[f64]) -> String;

/// One scaling table, as every cure writes it: a row per `n` (`count(n)`,
/// then `cells` of that row's medians), then one line naming the growth of
/// each `(label, column)` in `growths` ("Growth of cost per {per}: ..."),
/// then, if given and a row has n = 100k, the `target` line for that row's
/// medians, then a blank line.
pub fn scaling_section(
    md: &mut String,
    head: &[&str],
    rows: &[(usize, Vec<f64>)],
    cells: impl Fn(&[f64]) -> Vec<String>,
    per: &str,
    growths: &[(&str, usize)],
    target: Option<Target<'_>>,
) {
    let mut t = Table::new(head);
    for (n, v) in rows {
        let mut row = vec![count(*n)];
        row.extend(cells(v));
        t.row(&row);
    }
    md.push_str(&t.done());
    let named: Vec<String> = growths
        .iter()
        .map(|&(label, col)| {
            let points: Vec<_> = rows.iter().map(|(n, v)| (*n, v[col])).collect();
            format!("{label} {}", growth(&points))
        })
        .collect();
    let _ = writeln!(md, "\nGrowth of cost per {per}: {}.", named.join("; "));
    if let Some(target) = target {
        if let Some((_, v)) = rows.iter().find(|(n, _)| *n == 100_000) {
            let _ = writeln!(md, "{}", target(v));
        }
    }
    md.push('\n');
}

/// The cells of a two-contender scaling row: both medians and their ratio.
pub fn pair_cells(v: &[f64]) -> Vec<String> {
    vec![ns(v[0]), ns(v[1]), ratio(v[0], v[1])]
}

/// A two-contender row: its label, both medians and their ratio.
pub fn pair_row(label: &str, g: f64, r: f64) -> Vec<String> {
    let mut row = vec![label.to_owned()];
    row.extend(pair_cells(&[g, r]));
    row
}
