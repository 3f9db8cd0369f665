//! The app icon, drawn by code like the tray icons (`tray::draw`): an eye on a blue disc, at any
//! size. The files in the top-level `icons/` folder are pictures of what this code draws — the
//! bundle set the installers use (32, 128 and 256 px PNGs, `icon.ico`, `icon.icns`) and the tray
//! states — kept in step by a test; `cargo xtask icons` writes them again after a change here.

/// The disc's blue, the eye's white.
const BLUE: [u8; 3] = [30, 64, 120];
const WHITE: [u8; 3] = [240, 244, 250];

/// The app icon, `size` pixels square, RGBA. Edges are smoothed by 4×4 samples per pixel.
pub fn app_icon(size: u32) -> Vec<u8> {
    const SAMPLES: u32 = 4;
    let s = size as f32;
    let mut px = vec![0u8; (size * size * 4) as usize];
    for y in 0..size {
        for x in 0..size {
            let (mut cover, mut white) = (0u32, 0u32);
            for sy in 0..SAMPLES {
                for sx in 0..SAMPLES {
                    // A point of the unit square centred on the icon: -0.5 … 0.5.
                    let u = (x as f32 + (sx as f32 + 0.5) / SAMPLES as f32) / s - 0.5;
                    let v = (y as f32 + (sy as f32 + 0.5) / SAMPLES as f32) / s - 0.5;
                    if u * u + v * v > 0.5 * 0.5 {
                        continue;
                    }
                    cover += 1;
                    // The eye: where two large discs, one above and one below, overlap.
                    let lens = |cy: f32| u * u + (v - cy) * (v - cy) < 0.46 * 0.46;
                    let eye = lens(0.31) && lens(-0.31);
                    let pupil = u * u + v * v < 0.115 * 0.115;
                    if eye && !pupil {
                        white += 1;
                    }
                }
            }
            if cover == 0 {
                continue;
            }
            let blend = |c: usize| {
                let w = white as f32 / cover as f32;
                (WHITE[c] as f32 * w + BLUE[c] as f32 * (1.0 - w)).round() as u8
            };
            let i = ((y * size + x) * 4) as usize;
            px[i..i + 4].copy_from_slice(&[
                blend(0),
                blend(1),
                blend(2),
                (cover * 255 / (SAMPLES * SAMPLES)) as u8,
            ]);
        }
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tray::{self, Level, TrayState};

    /// A PNG of an RGBA image (deflate at the `png` crate's default level: the same bytes for
    /// the same pixels and version of the crate).
    fn png(rgba: &[u8], size: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, size, size);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(rgba).unwrap();
        writer.finish().unwrap();
        out
    }

    /// A Windows icon holding PNG images (Windows Vista and later read them).
    fn ico(images: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(0u16.to_le_bytes());
        out.extend(1u16.to_le_bytes());
        out.extend((images.len() as u16).to_le_bytes());
        let mut offset = 6 + 16 * images.len() as u32;
        for (size, data) in images {
            let side = if *size >= 256 { 0 } else { *size as u8 };
            out.extend([side, side, 0, 0]);
            out.extend(1u16.to_le_bytes());
            out.extend(32u16.to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend(offset.to_le_bytes());
            offset += data.len() as u32;
        }
        for (_, data) in images {
            out.extend(data);
        }
        out
    }

    /// A macOS icon family holding PNG images, by type: `icp4` 16, `icp5` 32, `ic07` 128,
    /// `ic08` 256 px.
    fn icns(images: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let body: Vec<u8> = images
            .iter()
            .flat_map(|(kind, data)| {
                let mut e = kind.to_vec();
                e.extend((data.len() as u32 + 8).to_be_bytes());
                e.extend(data);
                e
            })
            .collect();
        let mut out = b"icns".to_vec();
        out.extend((body.len() as u32 + 8).to_be_bytes());
        out.extend(body);
        out
    }

    /// Every file of `icons/`, as this code makes it.
    fn the_set() -> Vec<(String, Vec<u8>)> {
        let app = |size: u32| png(&app_icon(size), size);
        let mut files = vec![
            ("32x32.png".to_string(), app(32)),
            ("128x128.png".to_string(), app(128)),
            ("128x128@2x.png".to_string(), app(256)),
            (
                "icon.ico".to_string(),
                ico(&[(16, app(16)), (32, app(32)), (48, app(48)), (256, app(256))]),
            ),
            (
                "icon.icns".to_string(),
                icns(&[
                    (b"icp4", app(16)),
                    (b"icp5", app(32)),
                    (b"ic07", app(128)),
                    (b"ic08", app(256)),
                ]),
            ),
        ];
        for (name, level, firing) in [
            ("ok", Level::Ok, 0),
            ("warning", Level::Warning, 2),
            ("critical", Level::Critical, 3),
            ("no-data", Level::NoData, 0),
            ("paused", Level::Paused, 0),
        ] {
            files.push((
                format!("tray-{name}.png"),
                png(&tray::draw(&TrayState { level, firing }), tray::SIZE),
            ));
        }
        files
    }

    fn folder() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../icons")
    }

    /// `icons/` holds the whole bundle set and the tray pictures, each exactly what this code
    /// and `tray.rs` draw, and the app's configuration points at the set.
    #[test]
    fn the_icons_folder_shows_what_the_code_draws() {
        let dir = folder();
        for (name, bytes) in the_set() {
            let path = dir.join(&name);
            if std::env::var_os("LOOKOUT_WRITE_ICONS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &bytes).unwrap();
            }
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert!(
                on_disk == bytes,
                "{} is not what the code draws; `cargo xtask icons` writes it again",
                path.display()
            );
        }
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        let listed: Vec<&str> = conf["bundle"]["icon"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        for name in [
            "32x32.png",
            "128x128.png",
            "128x128@2x.png",
            "icon.icns",
            "icon.ico",
        ] {
            assert!(
                listed.contains(&format!("../icons/{name}").as_str()),
                "tauri.conf.json does not use icons/{name}: {listed:?}"
            );
        }
        // The window icon is the first PNG listed: the largest.
        assert_eq!(listed.first(), Some(&"../icons/128x128@2x.png"));
    }

    #[test]
    fn the_app_icon_is_an_eye_on_a_disc_at_every_size() {
        for size in [16, 32, 128, 256] {
            let px = app_icon(size);
            let at = |x: u32, y: u32| {
                let i = ((y * size + x) * 4) as usize;
                [px[i], px[i + 1], px[i + 2], px[i + 3]]
            };
            let c = size / 2;
            assert_eq!(at(0, 0)[3], 0, "{size}: the corners are clear");
            assert_eq!(at(c, c)[..3], BLUE, "{size}: the pupil");
            assert_eq!(at(c, size / 16)[..3], BLUE, "{size}: the disc");
            assert_eq!(at(c * 2 / 3, c)[..3], WHITE, "{size}: the eye");
        }
    }
}
