//! The comparison report a court can attach to a judgment: one self-contained HTML page (pictures embedded)
//! that prints on A4, in Chinese and English side by side, whose numbers are exactly those of the JSON report.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::compare::{Alignment, Statistics};

/// One model's identity in the report.
#[derive(Debug)]
pub struct ModelFacts {
    /// File name.
    pub name: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Vertices and triangles.
    pub vertices: usize,
    /// Triangles.
    pub triangles: usize,
    /// The bound a picked point carries, if the manifest records one, millimetres.
    pub point_bound_mm: Option<f64>,
}

/// Everything the page shows.
#[derive(Debug)]
pub struct ReportPage<'a> {
    /// Model A (measured) and B (reference).
    pub a: &'a ModelFacts,
    /// Model B.
    pub b: &'a ModelFacts,
    /// The alignment.
    pub alignment: &'a Alignment,
    /// The statistics.
    pub statistics: &'a Statistics,
    /// PNG bytes: the heat map with its legend.
    pub heat_map_png: &'a [u8],
    /// PNG bytes: the six standard views of A and of B, in the order front, back, left, right, top, bottom.
    pub views_a: &'a [Vec<u8>],
    /// B's six views.
    pub views_b: &'a [Vec<u8>],
    /// When the comparison ran (UTC, as the caller wrote it).
    pub created: String,
    /// What was measured to what.
    pub direction: crate::compare::Direction,
    /// The colour difference (`compare --colour`): its figures and the map (PNG bytes).
    pub colour: Option<(&'a crate::appearance::ColourStatistics, &'a [u8])>,
}

/// A histogram's bars (count and sRGB colour each) as SVG rectangles in a `w` × `h` box, the tallest reaching
/// 10 units below its top.
fn histogram_bars(out: &mut String, bars: &[(u64, [u8; 3])], (w, h): (f64, f64)) {
    let peak = bars.iter().map(|b| b.0).max().unwrap_or(1).max(1) as f64;
    let bar = w / bars.len().max(1) as f64;
    for (i, &(count, [r, g, bl])) in bars.iter().enumerate() {
        let bh = count as f64 / peak * (h - 10.0);
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="rgb({r},{g},{bl})" stroke="#444" stroke-width="0.5" data-count="{count}"/>"##,
            x = i as f64 * bar,
            y = h - bh,
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn image(png: &[u8], alt: &str) -> String {
    format!(
        r#"<img alt="{}" src="data:image/png;base64,{}">"#,
        escape(alt),
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// How the page writes a number: the same text the test reads back (`data-key` holds the JSON field).
#[must_use]
pub fn number(value: f64) -> String {
    format!("{value:.4}")
}

/// The page.
#[must_use]
#[allow(clippy::too_many_lines, reason = "one page, top to bottom")]
pub fn html(page: &ReportPage<'_>) -> String {
    let s = page.statistics;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>外观比对报告 Design comparison report</title>
<style>
@page {{ size: A4; margin: 14mm; }}
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; color: #111; margin: 0 auto; max-width: 190mm; font-size: 10pt; }}
h1 {{ font-size: 16pt; margin: 0 0 4mm; }} h2 {{ font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #999; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border: 1px solid #bbb; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }}
th {{ background: #eee; width: 38%; }} .hash {{ font-family: monospace; font-size: 8pt; word-break: break-all; }}
.views {{ display: grid; grid-template-columns: repeat(6, 1fr); gap: 1mm; }} .views img {{ width: 100%; }}
.views figcaption {{ font-size: 7pt; text-align: center; }} figure {{ margin: 0; }}
.heat img {{ width: 100%; }} .section {{ break-inside: avoid; }}
</style></head><body>
<h1>外观比对报告 · Design comparison report</h1>
<p>{what} Created {created} UTC.</p>
"#,
        created = escape(&page.created),
        what = match page.direction {
            crate::compare::Direction::AVerticesToBSurface =>
                "被比对模型 A（测量）与参照模型 B：偏差为 A 的每个顶点到 B 表面的有符号距离（正值：A 在 B 之外）。<br>Model A (measured) against model B (reference): the deviation is the signed distance from every vertex of A to the surface of B (positive: A lies outside B).",
            crate::compare::Direction::BPointsToASurface =>
                "模型 B 为点云：偏差为 B 的每个点（对齐后）到 A 表面的有符号距离（正值：点在 A 之外）。<br>Model B is a point cloud: the deviation is the signed distance from every point of B (aligned) to the surface of A (positive: the point lies outside A).",
        }
    );
    let _ = write!(
        out,
        r#"<div class="section"><h2>模型 · Models</h2><table>
<tr><th></th><th>A</th><th>B</th></tr>
<tr><td>文件 File</td><td>{an}</td><td>{bn}</td></tr>
<tr><td>SHA-256</td><td class="hash" data-key="a_sha256">{ah}</td><td class="hash" data-key="b_sha256">{bh}</td></tr>
<tr><td>顶点 / 三角形 Vertices / triangles</td><td>{av} / {at}</td><td>{bv} / {bt}</td></tr>
<tr><td>单点误差界 Error bound of a point</td><td>{ab}</td><td>{bb}</td></tr>
</table></div>
"#,
        an = escape(&page.a.name),
        bn = escape(&page.b.name),
        ah = escape(&page.a.sha256),
        bh = escape(&page.b.sha256),
        av = page.a.vertices,
        at = page.a.triangles,
        bv = page.b.vertices,
        bt = page.b.triangles,
        ab = page
            .a
            .point_bound_mm
            .map_or("未记录 not recorded".into(), |b| format!("± {b:.4} mm")),
        bb = page
            .b
            .point_bound_mm
            .map_or("未记录 not recorded".into(), |b| format!("± {b:.4} mm")),
    );
    let al = page.alignment;
    let transform = al
        .transform
        .iter()
        .map(|v| format!("{v:.9}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        out,
        r#"<div class="section"><h2>对齐 · Alignment</h2><table>
<tr><th>方法 Method</th><td>{method} (start: {start})</td></tr>
<tr><th>旋转 Rotation</th><td><span data-key="rotation_deg">{rot}</span> °</td></tr>
<tr><th>平移 Translation</th><td><span data-key="translation_mm">{tr}</span> mm</td></tr>
<tr><th>对齐残差 RMS Alignment RMS</th><td><span data-key="alignment_rms_mm">{rms}</span> mm (inliers {inl:.1} %, {it} iterations)</td></tr>
<tr><th>变换矩阵（B→A，列优先，米）Transform (B onto A, column-major, metres)</th><td class="hash" data-key="transform">{transform}</td></tr>
</table></div>
"#,
        method = escape(&al.method),
        start = escape(&al.start),
        rot = number(al.rotation_deg),
        tr = number(al.translation_mm),
        rms = number(al.rms_mm),
        inl = al.inlier_share * 100.0,
        it = al.iterations,
    );
    let rows = [
        (
            "偏差均值（绝对值）Mean |deviation|",
            "mean_mm",
            s.mean_mm,
            "mm",
        ),
        ("均方根 RMS", "rms_mm", s.rms_mm, "mm"),
        ("95% 分位 95th percentile", "p95_mm", s.p95_mm, "mm"),
        ("最大 Maximum", "max_mm", s.max_mm, "mm"),
        (
            "有符号均值 Signed mean",
            "signed_mean_mm",
            s.signed_mean_mm,
            "mm",
        ),
        (
            "最小 / 最大有符号偏差 Signed min",
            "signed_min_mm",
            s.signed_min_mm,
            "mm",
        ),
        (
            "最大有符号偏差 Signed max",
            "signed_max_mm",
            s.signed_max_mm,
            "mm",
        ),
        ("公差 Tolerance ±", "tolerance_mm", s.tolerance_mm, "mm"),
        (
            "公差内比例 Share within tolerance",
            "within_tolerance",
            s.within_tolerance,
            "(0–1)",
        ),
        (
            "与重建填补表面比较的比例（推测，非实测）Share measured against filled-in surface (a guess)",
            "invented_share",
            s.invented_share,
            "(0–1)",
        ),
    ];
    let _ = write!(
        out,
        r#"<div class="section"><h2>偏差统计 · Deviation statistics ({n} vertices)</h2><table>"#,
        n = s.count
    );
    for (name, key, value, unit) in rows {
        let _ = write!(
            out,
            r#"<tr><th>{name}</th><td><span data-key="{key}">{}</span> {unit}</td></tr>"#,
            number(value)
        );
    }
    out.push_str("</table></div>\n");
    // Histogram as inline SVG: bars over ±range, the tolerance band shaded.
    let (w, h) = (600.0, 160.0);
    let _ = write!(
        out,
        r#"<div class="section"><h2>偏差直方图 · Histogram of signed deviations (mm)</h2><svg viewBox="0 0 {w} {hh}" width="100%" xmlns="http://www.w3.org/2000/svg">"#,
        hh = h + 20.0
    );
    let band = s.tolerance_mm / (2.0 * s.range_mm) * w;
    let _ = write!(
        out,
        r##"<rect x="{x:.1}" y="0" width="{bw:.1}" height="{h}" fill="#e8e8e8"/>"##,
        x = w / 2.0 - band,
        bw = 2.0 * band
    );
    let bars: Vec<(u64, [u8; 3])> = s
        .histogram
        .iter()
        .map(|b| {
            let middle = (b.from_mm + b.to_mm) * 0.5;
            (
                b.count,
                crate::heatmap::color(middle, s.tolerance_mm, s.range_mm),
            )
        })
        .collect();
    histogram_bars(&mut out, &bars, (w, h));
    for value in [-s.range_mm, 0.0, s.range_mm] {
        let x = (value + s.range_mm) / (2.0 * s.range_mm) * w;
        let anchor = if value < 0.0 {
            "start"
        } else if value > 0.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{ty}" font-size="11" text-anchor="{anchor}">{value:+.2}</text>"#,
            ty = h + 15.0
        );
    }
    out.push_str("</svg></div>\n");
    let _ = writeln!(
        out,
        r#"<div class="section heat"><h2>偏差热图 · Deviation heat map (A coloured by its distance from B)</h2>{}</div>"#,
        image(page.heat_map_png, "heat map")
    );
    if let Some((c, map)) = page.colour {
        let _ = write!(
            out,
            r#"<div class="section"><h2>色差 · Colour difference (CIEDE2000 ΔE₀₀ between corresponding surface points, {n} samples: {sampled})</h2><table>"#,
            n = c.count,
            sampled = escape(&c.sampled),
        );
        for (name, key, value) in [
            ("平均 Mean ΔE₀₀", "mean_de", c.mean_de),
            ("95% 分位 95th percentile ΔE₀₀", "p95_de", c.p95_de),
            ("最大 Maximum ΔE₀₀", "max_de", c.max_de),
            ("容差 Tolerance ΔE₀₀", "tolerance_de", c.tolerance_de),
            (
                "超出容差比例 Share above tolerance",
                "share_above_tolerance",
                c.share_above_tolerance,
            ),
            (
                "对应点距离上限 Correspondence limit (mm)",
                "max_distance_mm",
                c.max_distance_mm,
            ),
        ] {
            let _ = write!(
                out,
                r#"<tr><th>{name}</th><td><span data-key="{key}">{}</span></td></tr>"#,
                number(value)
            );
        }
        let _ = write!(
            out,
            r#"<tr><th>无对应点 Samples without a partner on B</th><td><span data-key="unmatched">{}</span></td></tr></table>"#,
            c.unmatched
        );
        let _ = write!(
            out,
            r#"<svg viewBox="0 0 {w} {hh}" width="100%" xmlns="http://www.w3.org/2000/svg">"#,
            hh = h + 20.0
        );
        let bars: Vec<(u64, [u8; 3])> = c
            .histogram
            .iter()
            .map(|b| {
                let middle = (b.from_de + b.to_de) * 0.5;
                (b.count, crate::appearance::de_color(middle, c.tolerance_de))
            })
            .collect();
        histogram_bars(&mut out, &bars, (w, h));
        let _ = writeln!(
            out,
            r#"<text x="0" y="{ty}" font-size="11">0</text><text x="{w}" y="{ty}" font-size="11" text-anchor="end">≥ {top:.1} ΔE₀₀</text></svg>{}</div>"#,
            image(map, "colour difference map"),
            ty = h + 15.0,
            top = c.histogram.last().map_or(0.0, |b| b.from_de),
        );
    }
    let names = [
        "主视图 Front",
        "后视图 Back",
        "左视图 Left",
        "右视图 Right",
        "俯视图 Top",
        "仰视图 Bottom",
    ];
    for (title, views) in [
        ("模型 A 六面视图 · Six views of A", page.views_a),
        ("模型 B 六面视图 · Six views of B", page.views_b),
    ] {
        let _ = write!(
            out,
            r#"<div class="section"><h2>{title}</h2><div class="views">"#
        );
        for (png, name) in views.iter().zip(names) {
            let _ = write!(
                out,
                "<figure>{}<figcaption>{name}</figcaption></figure>",
                image(png, name)
            );
        }
        out.push_str("</div></div>\n");
    }
    out.push_str("<p>exhibit ");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str(" · 报告中的数值与同名 JSON 报告一致 · The numbers on this page are those of the JSON report of the same name.</p>\n</body></html>\n");
    out
}
