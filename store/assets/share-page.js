// The live viewer on a share page. The page carries what to show in data attributes (escaped like any text);
// this file starts the web viewer with them. A page has no inline script: the store's Content Security Policy
// runs only files like this one.
const section = document.querySelector('section.live');
const status = document.getElementById('status');

// When the viewer cannot even load (its files missing, a proxy blocking them), say so in both languages and
// leave the rendered picture to show the model, instead of a canvas that says "Loading…" forever.
function unavailable(error) {
  section.dataset.state = 'failed';
  document.documentElement.dataset.state = 'error';
  status.textContent = '实时三维视图无法载入，请看下方的渲染图。 The live 3D view cannot load here; '
    + 'the rendered picture below shows the model. (' + error + ')';
}

if (section) {
  const data = section.dataset;
  import('/app/viewer.js').then((viewer) => {
    if (data.compare === undefined) {
      return viewer.openViewer({
        canvas: document.getElementById('view3d'), url: data.modelUrl, status, started: 0,
      });
    }
    return viewer.openComparison({
      canvasA: document.getElementById('view3d'), canvasB: document.getElementById('view3d-b'),
      urlA: data.modelUrl, urlB: data.otherUrl, transform: JSON.parse(data.transform),
      tolerance: Number(data.tolerance), legend: document.getElementById('legend'), status,
      swipe: document.getElementById('swipe'), frame: section, started: 0,
    });
  }).catch(unavailable);
}
