//! View models the templates share: a version's manifest and a saved comparison, typed and formatted for
//! people. Nothing here escapes anything: the templates do, every value, by default.

use crate::records::comparisons::Comparison;
use crate::validate::ComparisonReport;

/// A version's manifest as a page shows it.
#[derive(Debug)]
pub enum ManifestView {
    /// The model carries none.
    Missing,
    /// Stored, but damaged or unreadable (its hash).
    Damaged(String),
    Present(Box<PresentManifest>),
}

impl From<crate::services::blob_reads::StoredManifest> for ManifestView {
    fn from(stored: crate::services::blob_reads::StoredManifest) -> Self {
        use crate::services::blob_reads::StoredManifest;
        match stored {
            StoredManifest::None => Self::Missing,
            StoredManifest::Damaged(sha) => Self::Damaged(sha),
            StoredManifest::Read(sha256, manifest) => Self::Present(Box::new(PresentManifest {
                sha256,
                manifest: *manifest,
            })),
        }
    }
}

/// A manifest that could be read.
#[derive(Debug)]
pub struct PresentManifest {
    pub sha256: String,
    pub manifest: codec::manifest::Manifest,
}

impl PresentManifest {
    /// The bounding box's size, `W × H × D`, millimetres.
    pub fn size_mm(&self) -> String {
        let g = &self.manifest.geometry;
        (0..3)
            .map(|i| format!("{:.1}", (g.bounds_max_m[i] - g.bounds_min_m[i]) * 1000.0))
            .collect::<Vec<_>>()
            .join(" × ")
    }

    /// How much of the surface was measured and how much filled in.
    pub fn surface(&self) -> String {
        let s = &self.manifest.surface;
        if s.measured_vertices + s.reconstructed_vertices == 0 {
            return "未记录 not recorded".to_owned();
        }
        format!(
            "{:.1} % 实测 measured, {:.1} % 重建 reconstructed (area)",
            100.0 * (1.0 - s.reconstructed_area_fraction),
            100.0 * s.reconstructed_area_fraction
        )
    }
}

/// A saved comparison and its report, as a share page shows it.
#[derive(Debug)]
pub struct ComparisonView {
    pub saved: Comparison,
    /// The stored report, when it could be read and checked.
    pub report: Option<ComparisonReport>,
}

/// The histogram as bars in a 400 × 120 box.
#[derive(Debug)]
pub struct Histogram {
    pub bars: Vec<Bar>,
    pub first_mm: f64,
    pub last_mm: f64,
}

/// One bar.
#[derive(Debug)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub from_mm: f64,
    pub to_mm: f64,
    pub count: u64,
}

fn four(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("{x:.4}"))
}

impl ComparisonView {
    pub fn start(&self) -> Option<&str> {
        self.report.as_ref()?.alignment.start.as_deref()
    }
    pub fn rotation_deg(&self) -> String {
        four(self.report.as_ref().and_then(|r| r.alignment.rotation_deg))
    }
    pub fn translation_mm(&self) -> String {
        four(
            self.report
                .as_ref()
                .and_then(|r| r.alignment.translation_mm),
        )
    }
    pub fn invented_share(&self) -> Option<f64> {
        self.report
            .as_ref()?
            .statistics
            .as_ref()?
            .invented_share
            .filter(|share| *share > 0.0)
    }

    /// The column-major transform shown as four rows.
    pub fn matrix(&self) -> String {
        let t = &self.saved.summary.transform;
        (0..4)
            .map(|row| {
                (0..4)
                    .map(|column| {
                        t.get(column * 4 + row)
                            .map_or_else(String::new, |v| format!("{v:.6}"))
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn histogram(&self) -> Option<Histogram> {
        let bins = &self.report.as_ref()?.statistics.as_ref()?.histogram;
        let (first, last) = (bins.first()?, bins.last()?);
        let top = bins.iter().map(|b| b.count as f64).fold(1.0, f64::max);
        let (width, height) = (400.0, 120.0);
        let step = width / bins.len() as f64;
        Some(Histogram {
            bars: bins
                .iter()
                .enumerate()
                .map(|(i, bin)| {
                    let h = height * bin.count as f64 / top;
                    Bar {
                        x: i as f64 * step + 1.0,
                        y: height - h,
                        width: step - 2.0,
                        height: h,
                        from_mm: bin.from_mm,
                        to_mm: bin.to_mm,
                        count: bin.count,
                    }
                })
                .collect(),
            first_mm: first.from_mm,
            last_mm: last.to_mm,
        })
    }
}
