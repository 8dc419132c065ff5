// Fast approximate anti-aliasing (after Timothy Lottes' FXAA): one full-screen pass that finds luma edges
// and blends along them. On a CPU device it costs a fraction of 4x multisampling, which llvmpipe pays for
// by rasterizing every sample.

@group(0) @binding(0) var picture: texture_2d<f32>;
@group(0) @binding(1) var linear_sampler: sampler;

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let x = f32((index << 1u) & 2u) * 2.0 - 1.0;
    let y = f32(index & 2u) * 2.0 - 1.0;
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn luma(c: vec3<f32>) -> f32 {
    // Perceptual: the picture is sampled as linear light, edges are judged as the eye sees them.
    return sqrt(dot(c, vec3<f32>(0.299, 0.587, 0.114)));
}

const REDUCE_MIN: f32 = 1.0 / 128.0;
const REDUCE_MUL: f32 = 1.0 / 8.0;
const SPAN_MAX: f32 = 8.0;

@fragment
fn fs_main(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let size = vec2<f32>(textureDimensions(picture));
    let texel = 1.0 / size;
    let uv = position.xy * texel;
    let m = textureSampleLevel(picture, linear_sampler, uv, 0.0);
    let nw = luma(textureSampleLevel(picture, linear_sampler, uv + vec2<f32>(-1.0, -1.0) * texel, 0.0).rgb);
    let ne = luma(textureSampleLevel(picture, linear_sampler, uv + vec2<f32>(1.0, -1.0) * texel, 0.0).rgb);
    let sw = luma(textureSampleLevel(picture, linear_sampler, uv + vec2<f32>(-1.0, 1.0) * texel, 0.0).rgb);
    let se = luma(textureSampleLevel(picture, linear_sampler, uv + vec2<f32>(1.0, 1.0) * texel, 0.0).rgb);
    let lm = luma(m.rgb);
    let low = min(lm, min(min(nw, ne), min(sw, se)));
    let high = max(lm, max(max(nw, ne), max(sw, se)));
    if (high - low < max(0.0312, high * 0.125)) {
        return m;
    }
    var direction = vec2<f32>(-((nw + ne) - (sw + se)), (nw + sw) - (ne + se));
    let reduce = max((nw + ne + sw + se) * 0.25 * REDUCE_MUL, REDUCE_MIN);
    let scale = 1.0 / (min(abs(direction.x), abs(direction.y)) + reduce);
    direction = clamp(direction * scale, vec2<f32>(-SPAN_MAX), vec2<f32>(SPAN_MAX)) * texel;
    let a = 0.5 * (textureSampleLevel(picture, linear_sampler, uv + direction * (1.0 / 3.0 - 0.5), 0.0).rgb
        + textureSampleLevel(picture, linear_sampler, uv + direction * (2.0 / 3.0 - 0.5), 0.0).rgb);
    let b = a * 0.5 + 0.25 * (textureSampleLevel(picture, linear_sampler, uv - direction * 0.5, 0.0).rgb
        + textureSampleLevel(picture, linear_sampler, uv + direction * 0.5, 0.0).rgb);
    let lb = luma(b);
    if (lb < low || lb > high) {
        return vec4<f32>(a, 1.0);
    }
    return vec4<f32>(b, 1.0);
}
