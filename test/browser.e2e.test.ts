/** End-to-end: the exported model in Chromium, in Teachable Machine's loader and the shop's web app (the tests' model). */
import { describeBrowserClients } from './support/browser-clients';
import { BASE_MODEL_JSON, QUICK_CLASSES, TEST_PHOTOS } from './support/shared';

describeBrowserClients({
  baseModel: BASE_MODEL_JSON,
  photos: TEST_PHOTOS,
  classes: QUICK_CLASSES,
  resizedAgreement: false,
});
