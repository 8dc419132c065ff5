//! Text point clouds: `.xyz`, `.pts`, `.txt`, `.csv`: one point per line, values separated by
//! whitespace or commas. Lines starting with `#` or `//` are comments.
//!
//! Which column is what, the documented rule (README, "Point text files"):
//! - A first line holding a single whole number (the PTS point count) is skipped.
//! - A first line that is not numbers is a header; its names choose the columns (`x y z`, `r g b` or
//!   `red green blue`, `nx ny nz`, `i` or `intensity`; anything else is dropped and named).
//! - Otherwise by the number of values: 3 `x y z`; 4 `x y z i`; 6 `x y z r g b` when the last three are
//!   whole numbers 0..=255 on the first line, else `x y z nx ny nz`; 7 `x y z i r g b` (the PTS layout);
//!   9 `x y z r g b nx ny nz` (`CloudCompare`'s order); 10 `x y z i r g b nx ny nz`.
//! - `--columns` overrides all of this, e.g. `x,y,z,_,r,g,b` (`_` skips a column).

use crate::error::ParseError;
use crate::raw::RawMesh;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    X,
    Y,
    Z,
    Red,
    Green,
    Blue,
    NormalX,
    NormalY,
    NormalZ,
    Intensity,
    Skip,
}

fn column_named(name: &str) -> Option<Column> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "x" | "//x" => Column::X,
        "y" => Column::Y,
        "z" => Column::Z,
        "r" | "red" => Column::Red,
        "g" | "green" => Column::Green,
        "b" | "blue" => Column::Blue,
        "nx" | "normal_x" => Column::NormalX,
        "ny" | "normal_y" => Column::NormalY,
        "nz" | "normal_z" => Column::NormalZ,
        "i" | "intensity" | "scalar_intensity" => Column::Intensity,
        "_" => Column::Skip,
        _ => return None,
    })
}

/// Parse a `--columns` value such as `x,y,z,_,r,g,b`.
pub fn parse_columns(spec: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = spec.split(',').map(|s| s.trim().to_owned()).collect();
    for name in &names {
        if column_named(name).is_none() {
            return Err(format!(
                "unknown column {name:?}: use x y z r g b nx ny nz i or _"
            ));
        }
    }
    Ok(names)
}

fn split(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect()
}

fn by_count(count: usize, first: &[&str]) -> Option<Vec<Column>> {
    use Column::{Blue, Green, Intensity, NormalX, NormalY, NormalZ, Red, X, Y, Z};
    let byte = |w: &str| w.parse::<u16>().is_ok_and(|v| v <= 255);
    Some(match count {
        3 => vec![X, Y, Z],
        4 => vec![X, Y, Z, Intensity],
        6 if first[3..6].iter().all(|w| byte(w)) => vec![X, Y, Z, Red, Green, Blue],
        6 => vec![X, Y, Z, NormalX, NormalY, NormalZ],
        7 => vec![X, Y, Z, Intensity, Red, Green, Blue],
        9 => vec![X, Y, Z, Red, Green, Blue, NormalX, NormalY, NormalZ],
        10 => vec![
            X, Y, Z, Intensity, Red, Green, Blue, NormalX, NormalY, NormalZ,
        ],
        _ => return None,
    })
}

/// Parse a whole text point cloud; `columns` overrides the rule above.
pub(crate) fn parse_xyz(bytes: &[u8], columns: Option<&[String]>) -> Result<RawMesh, ParseError> {
    let mut raw = RawMesh {
        format: "xyz".into(),
        ..RawMesh::default()
    };
    let mut layout: Option<Vec<Column>> =
        columns.map(|names| names.iter().filter_map(|n| column_named(n)).collect());
    let mut normals = Vec::new();
    let mut colors = Vec::new();
    let mut intensity = Vec::new();
    let mut first_data_line = true;
    let mut declared: Option<u64> = None;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = index as u64 + 1;
        let text = std::str::from_utf8(line)
            .map_err(|_| ParseError::line(line_number, "line is not text"))?
            .trim();
        if text.is_empty() || text.starts_with('#') || text.starts_with("//") {
            continue;
        }
        let words = split(text);
        if first_data_line {
            first_data_line = false;
            if words.len() == 1
                && let Ok(count) = words[0].parse::<u64>()
            {
                raw.format = "pts".into();
                declared = Some(count);
                continue;
            }
            if words.iter().any(|w| w.parse::<f64>().is_err()) && layout.is_none() {
                let named: Vec<Column> = words
                    .iter()
                    .map(|w| column_named(w).unwrap_or(Column::Skip))
                    .collect();
                for (w, c) in words.iter().zip(&named) {
                    if *c == Column::Skip {
                        raw.dropped.push(format!("column {w}"));
                    }
                }
                layout = Some(named);
                continue;
            }
        }
        let columns = if let Some(c) = &layout {
            c.clone()
        } else {
            let c = by_count(words.len(), &words).ok_or_else(|| {
                ParseError::line(
                    line_number,
                    format!(
                        "{} values per line: give --columns to say what they are",
                        words.len()
                    ),
                )
            })?;
            layout = Some(c.clone());
            c
        };
        if words.len() != columns.len() {
            return Err(ParseError::line(
                line_number,
                format!(
                    "{} values where earlier lines have {}",
                    words.len(),
                    columns.len()
                ),
            ));
        }
        let mut p = [f64::NAN; 3];
        let mut n = [0.0f32; 3];
        let mut c = [0u8, 0, 0, 255];
        let mut value_i = 0.0f32;
        for (word, column) in words.iter().zip(&columns) {
            if *column == Column::Skip {
                continue;
            }
            let v: f64 = word
                .parse()
                .map_err(|_| ParseError::line(line_number, format!("{word:?} is not a number")))?;
            match column {
                Column::X => p[0] = v,
                Column::Y => p[1] = v,
                Column::Z => p[2] = v,
                Column::Red => c[0] = v.round().clamp(0.0, 255.0) as u8,
                Column::Green => c[1] = v.round().clamp(0.0, 255.0) as u8,
                Column::Blue => c[2] = v.round().clamp(0.0, 255.0) as u8,
                Column::NormalX => n[0] = v as f32,
                Column::NormalY => n[1] = v as f32,
                Column::NormalZ => n[2] = v as f32,
                Column::Intensity => value_i = v as f32,
                Column::Skip => {}
            }
        }
        raw.positions.push(p);
        normals.push(n);
        colors.push(c);
        intensity.push(value_i);
    }
    if let Some(count) = declared {
        let found = raw.positions.len() as u64;
        let value = if count == found {
            count.to_string()
        } else {
            format!("{count}, but the file has {found} points (all read)")
        };
        raw.metadata.push(("pts count line".into(), value));
    }
    let layout = layout.unwrap_or_default();
    if ![Column::X, Column::Y, Column::Z]
        .iter()
        .all(|c| layout.contains(c))
        && !raw.positions.is_empty()
    {
        return Err(ParseError::line(1, "the columns name no x, y and z"));
    }
    let has = |c: Column| layout.contains(&c);
    raw.normals = has(Column::NormalX).then_some(normals);
    raw.colors_srgb = has(Column::Red).then_some(colors);
    raw.intensity = has(Column::Intensity).then_some(intensity);
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_with_count_line_intensity_and_colour() {
        let raw = parse_xyz(b"2\n1 2 3 -100 10 20 30\n4,5,6,7,40,50,60\n", None).unwrap();
        assert_eq!(raw.format, "pts");
        assert_eq!(
            raw.metadata,
            vec![("pts count line".to_owned(), "2".to_owned())]
        );
        assert_eq!(raw.positions, vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(raw.intensity.unwrap(), vec![-100.0, 7.0]);
        assert_eq!(raw.colors_srgb.unwrap()[1], [40, 50, 60, 255]);
    }

    #[test]
    fn six_columns_are_colour_or_normals_by_the_first_line() {
        assert!(
            parse_xyz(b"0 0 0 255 0 12\n", None)
                .unwrap()
                .colors_srgb
                .is_some()
        );
        assert!(
            parse_xyz(b"0 0 0 0.5 0.5 0.7\n", None)
                .unwrap()
                .normals
                .is_some()
        );
    }

    #[test]
    fn header_names_and_overrides() {
        let raw = parse_xyz(b"X,Y,Z,Classification,Intensity\n1,2,3,5,9\n", None).unwrap();
        assert_eq!(raw.intensity.unwrap(), vec![9.0]);
        assert_eq!(raw.dropped, vec!["column Classification".to_owned()]);
        let columns = parse_columns("_,x,y,z").unwrap();
        assert_eq!(
            parse_xyz(b"9 1 2 3\n", Some(&columns)).unwrap().positions,
            vec![[1.0, 2.0, 3.0]]
        );
        assert!(parse_columns("x,y,q").is_err());
    }

    #[test]
    fn reject_with_line_numbers() {
        assert_eq!(
            parse_xyz(b"1 2 3\n\n1 2 x\n", None).unwrap_err(),
            ParseError::line(3, "\"x\" is not a number")
        );
        assert_eq!(
            parse_xyz(b"1 2 3\n1 2\n", None).unwrap_err().at,
            crate::error::At::Line(2)
        );
        assert!(
            parse_xyz(b"1 2 3 4 5\n", None)
                .unwrap_err()
                .reason
                .contains("--columns")
        );
    }
}
