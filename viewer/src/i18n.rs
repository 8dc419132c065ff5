//! The viewer's words in English and Chinese (中文). Every label the panels show goes through [`Lang::t`];
//! a test checks that each key has both languages.

/// The interface language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// 简体中文.
    Zh,
}

/// (key, English, Chinese).
const WORDS: &[(&str, &str, &str)] = &[
    (
        "title",
        "exhibit: evidence viewer",
        "exhibit 证据模型查看器",
    ),
    ("model", "Model", "模型"),
    ("file", "File", "文件"),
    ("sha256", "SHA-256", "SHA-256 哈希"),
    ("case", "Case", "案件"),
    ("evidence", "Evidence", "证据"),
    (
        "not_connected",
        "not connected to a court store (open a file)",
        "未连接法院存储（本地文件）",
    ),
    ("confirmations", "Confirmations", "当事人确认"),
    (
        "no_confirmations",
        "none: confirmations live in the court store",
        "无：确认记录保存在法院存储中",
    ),
    ("triangles", "Triangles", "三角形"),
    ("points", "Points", "点"),
    ("level", "Level of detail", "细节层级"),
    ("loading", "loading", "加载中"),
    ("full_detail", "full detail", "完整精度"),
    ("size", "Size", "尺寸"),
    ("precision", "Precision", "精度"),
    ("requested", "requested", "要求"),
    ("measured_max", "measured max error", "实测最大误差"),
    (
        "point_bound",
        "Error bound of a picked point",
        "拾取点的误差界",
    ),
    ("not_recorded", "Not recorded", "未记录"),
    ("surface", "Surface", "表面"),
    ("measured_share", "measured", "实测"),
    (
        "reconstructed_share",
        "reconstructed (filled in)",
        "重建（补全）",
    ),
    ("inputs", "Raw scans", "原始扫描"),
    ("steps", "Processing steps", "处理步骤"),
    ("views", "Views", "视图"),
    ("front", "Front", "主视图"),
    ("back", "Back", "后视图"),
    ("left", "Left", "左视图"),
    ("right", "Right", "右视图"),
    ("top", "Top", "俯视图"),
    ("bottom", "Bottom", "仰视图"),
    ("iso", "Iso", "立体图"),
    ("fit", "Fit", "适应窗口"),
    ("orthographic", "Orthographic", "正交投影"),
    ("perspective", "Perspective", "透视投影"),
    ("display", "Display", "显示"),
    ("colors", "Colours", "颜色"),
    (
        "colour_difference",
        "Colour difference (ΔE00)",
        "色差（ΔE00）",
    ),
    ("textures", "Textures (print)", "纹理（印刷图案）"),
    ("tint", "Tint reconstructed surface", "标示重建表面"),
    ("flat", "Flat shading", "平面着色"),
    ("matcap", "Matcap", "材质球着色"),
    ("xray", "X-ray", "透视"),
    ("edges", "Edges", "轮廓线"),
    ("wireframe", "Wireframe", "线框"),
    ("tools", "Tools", "工具"),
    ("navigate", "Navigate", "浏览"),
    ("distance", "Distance", "距离"),
    ("angle", "Angle", "角度"),
    ("area", "Area", "面积"),
    ("annotate", "Annotate", "标注"),
    ("close_area", "Close the area", "闭合面积"),
    ("clear", "Clear", "清除"),
    ("measurements", "Measurements", "测量结果"),
    ("clip", "Clipping plane", "剖切平面"),
    ("clip_on", "Cut", "剖切"),
    ("axis", "Axis", "轴"),
    ("offset", "Offset (mm)", "偏移（毫米）"),
    ("section", "Section outline", "截面轮廓"),
    ("annotations", "Annotations", "标注"),
    ("note", "Note", "说明"),
    ("save_annotations", "Save annotations", "保存标注"),
    (
        "screenshot",
        "Screenshot with scale bar",
        "截图（含比例尺）",
    ),
    ("saved", "saved", "已保存"),
    ("share", "Share (QR)", "分享（二维码）"),
    (
        "share_hint",
        "Scan to open this model at this view; the link is view-only and expires.",
        "扫码即可在此视角打开模型；链接仅供查看，到期失效。",
    ),
    (
        "share_needs_store",
        "Sharing needs the court store: open the model with --store URL",
        "分享需要法院存储：请用 --store URL 打开模型",
    ),
    (
        "hint_navigate",
        "Drag: orbit · right/middle drag: pan · wheel or pinch: zoom · double-click: fit",
        "拖动：旋转 · 右键/中键拖动：平移 · 滚轮或双指：缩放 · 双击：适应窗口",
    ),
    (
        "hint_pick",
        "Click on the model to pick points",
        "在模型上单击以拾取点",
    ),
    ("language", "中文", "English"),
    (
        "no_surface",
        "no surface under the pointer",
        "指针下没有表面",
    ),
    ("adapter", "Renderer", "渲染器"),
    ("comparison", "Comparison (A against B)", "比对（A 对 B）"),
    ("side_by_side", "Side by side", "并排"),
    ("swipe", "Swipe", "滑动对比"),
    ("overlay", "Overlay", "叠加"),
    ("heat_map", "Heat map", "偏差热图"),
    ("sync", "Synchronized views", "视角同步"),
    ("divider", "Divider", "分隔线"),
    ("tolerance", "Tolerance ± (mm)", "公差 ±（毫米）"),
    ("aligning", "aligning", "对齐中"),
    ("alignment", "Alignment", "对齐"),
    (
        "deviation_stats",
        "Mean / RMS / p95 / max",
        "均值 / 均方根 / 95% / 最大",
    ),
    ("within", "Within tolerance", "公差内"),
    (
        "invented",
        "Measured against filled-in surface (a guess)",
        "与重建填补表面比较（推测，非实测）",
    ),
    ("six_views", "Six views", "六面视图"),
    ("roi", "Region kept by the cut", "剖切保留区域"),
    ("pair", "Pairs", "对应点"),
    ("pairs", "Picked pairs (A / B)", "已选对应点（A / B）"),
    ("align_pairs", "Align by pairs", "按对应点对齐"),
    (
        "pick_a_first",
        "pick the point on A first (left pane)",
        "请先在 A（左侧）上选点",
    ),
];

impl Lang {
    /// The word for `key` (the key itself when unknown, so a missing word is visible, not blank).
    #[must_use]
    pub fn t(self, key: &'static str) -> &'static str {
        WORDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, en, zh)| match self {
                Self::En => en,
                Self::Zh => zh,
            })
    }

    /// The other language.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Zh,
            Self::Zh => Self::En,
        }
    }

    /// Every Chinese string, for checking the font covers them.
    pub fn all_chinese() -> impl Iterator<Item = &'static str> {
        WORDS.iter().map(|(_, _, zh)| *zh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_translated() {
        let mut keys: Vec<&str> = WORDS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let count = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), count, "duplicate keys");
        for (key, en, zh) in WORDS {
            assert!(!en.is_empty() && !zh.is_empty(), "{key}");
        }
        assert_eq!(Lang::Zh.t("front"), "主视图");
        assert_eq!(Lang::En.t("front"), "Front");
    }
}
