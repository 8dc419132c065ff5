// The case page: its script reads the API with the user's token (see /app/case.js). The case's id comes from
// the page's data attribute; the page has no inline script.
import { openCase } from '/app/case.js';

const main = document.getElementById('case');
openCase({ main, caseId: Number(main.dataset.caseId) });
