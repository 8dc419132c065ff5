//! The one table of what ingest reads: formats, extensions, default units, what is kept and what is named as
//! dropped. `exhibit ingest --help` and the README's format table are both made from it (a test holds the
//! README to it), and [`crate::ScanFormat::detect`] finds formats by its extensions.

use std::fmt::Write as _;

use crate::{ScanFormat, Unit};

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct FormatRow {
    /// The format.
    pub format: ScanFormat,
    /// Its name and variants, as the README shows them.
    pub name: &'static str,
    /// File extensions, lower case, without the dot.
    pub extensions: &'static [&'static str],
    /// The unit assumed when neither `--unit` nor the file says (see [`ScanFormat::default_unit`]).
    pub default_unit: &'static str,
    /// What a model keeps of it.
    pub kept: &'static str,
    /// What is read but named as dropped.
    pub dropped: &'static str,
}

impl FormatRow {
    /// The extensions as people write them: `.xyz .pts .txt .csv`.
    fn dotted_extensions(&self) -> String {
        let dotted: Vec<String> = self.extensions.iter().map(|e| format!(".{e}")).collect();
        dotted.join(" ")
    }
}

/// Every format ingest reads, in the README's order.
pub const FORMATS: [FormatRow; 8] = [
    FormatRow {
        format: ScanFormat::Ply,
        name: "PLY (ascii, binary LE/BE, any property order and type)",
        extensions: &["ply"],
        default_unit: "m",
        kept: "positions, faces (polygons fan-triangulated), normals, colours (uchar, ushort or float), intensity/quality (point clouds), texture coordinates (`texture_u/v`, `s/t`, per-corner `texcoord` with `texnumber`) with the images `comment TextureFile` names",
        dropped: "every other property and element (`confidence`, `range_grid`...)",
    },
    FormatRow {
        format: ScanFormat::Pcd,
        name: "PCD (ascii, binary, binary_compressed)",
        extensions: &["pcd"],
        default_unit: "m",
        kept: "`x y z`, `normal_*`, `rgb`/`rgba`, `intensity`; `VIEWPOINT` into the metadata",
        dropped: "other fields (`curvature`...)",
    },
    FormatRow {
        format: ScanFormat::Xyz,
        name: "XYZ / PTS / TXT / CSV",
        extensions: &["xyz", "pts", "txt", "csv"],
        default_unit: "m",
        kept: "by the column rule below",
        dropped: "unnamed header columns",
    },
    FormatRow {
        format: ScanFormat::Las,
        name: "LAS 1.0–1.4, LAZ, COPC",
        extensions: &["las", "laz"],
        default_unit: "m, or the coordinate system's feet",
        kept: "positions (scale and offset applied, f64), RGB, intensity; coordinate system (WKT, GeoTIFF keys), software, date into the metadata",
        dropped: "classification, returns, flags, GPS time, extra bytes",
    },
    FormatRow {
        format: ScanFormat::E57,
        name: "E57",
        extensions: &["e57"],
        default_unit: "m",
        kept: "every scan, its pose applied; cartesian or spherical; colour; intensity; sensor vendor, model, serial, firmware, capture time, pose into the metadata; page checksums verified",
        dropped: "row/column indices, time stamps",
    },
    FormatRow {
        format: ScanFormat::Obj,
        name: "OBJ",
        extensions: &["obj"],
        default_unit: "m",
        kept: "`v` (with `r g b`), `vn` (zero-length ones recomputed from the faces), `vt`, `f` (negative indices, polygons), `usemtl`/`mtllib` with each material's `map_Kd` image (inside the scan's folder; UDIM tiles)",
        dropped: "groups, other material maps",
    },
    FormatRow {
        format: ScanFormat::Stl,
        name: "STL (ascii, binary)",
        extensions: &["stl"],
        default_unit: "mm",
        kept: "triangles, equal corners welded",
        dropped: "facet normals, attribute words",
    },
    FormatRow {
        format: ScanFormat::Gltf,
        name: "glTF 2.0",
        extensions: &["glb", "gltf"],
        default_unit: "m",
        kept: "to re-encode a model",
        dropped: "lines, skins, textures other than base colour (noted)",
    },
];

/// The units `--unit` takes, in order.
pub const UNITS: [Unit; 6] = [
    Unit::Metre,
    Unit::Centimetre,
    Unit::Millimetre,
    Unit::Inch,
    Unit::Foot,
    Unit::UsSurveyFoot,
];

/// The format whose extension `extension` (any case, no dot) is.
#[must_use]
pub fn by_extension(extension: &str) -> Option<ScanFormat> {
    let extension = extension.to_ascii_lowercase();
    FORMATS
        .iter()
        .find(|row| row.extensions.contains(&extension.as_str()))
        .map(|row| row.format)
}

/// The README's format table, in Markdown.
#[must_use]
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| format | extensions | default unit | kept | named as dropped |\n|---|---|---|---|---|\n",
    );
    for row in &FORMATS {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            row.name,
            row.dotted_extensions(),
            row.default_unit,
            row.kept,
            row.dropped
        );
    }
    out
}

/// What `exhibit ingest --help` says after its options: every format with its extensions and default unit,
/// and every unit.
#[must_use]
pub fn help_text() -> String {
    let mut out = String::from("Formats (extension: format, default unit):\n");
    for row in &FORMATS {
        let _ = writeln!(
            out,
            "  {:<24} {}; default unit {}",
            row.dotted_extensions(),
            row.name,
            row.default_unit
        );
    }
    let units: Vec<String> = UNITS.iter().map(ToString::to_string).collect();
    let _ = write!(
        out,
        "Units (--unit): {} (us-ft: US survey feet, 1200/3937 m)",
        units.join(", ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_a_row_and_every_extension_one_format() {
        let mut seen = std::collections::BTreeSet::new();
        for row in &FORMATS {
            for extension in row.extensions {
                assert!(seen.insert(*extension), "{extension} listed twice");
                assert_eq!(by_extension(extension), Some(row.format));
            }
            assert_eq!(
                row.format.default_unit().to_string(),
                row.default_unit.split(',').next().unwrap_or_default()
            );
        }
        assert_eq!(by_extension("PLY"), Some(ScanFormat::Ply));
        assert_eq!(by_extension("docx"), None);
        for unit in UNITS {
            assert_eq!(unit.to_string().parse::<Unit>(), Ok(unit));
        }
    }
}
