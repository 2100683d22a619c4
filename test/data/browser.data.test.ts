/**
 * `npm run test:data`: the exported model of the real base model in Chromium. Teachable Machine's loader resizes
 * photos its own way; with a model that recognises them it names the trainer's product all the same.
 */
import { describeBrowserClients } from '../support/browser-clients';
import { GROCERY, GROCERY_QUICK_CLASSES, REAL_BASE_MODEL_JSON, requireSharedData } from '../support/shared';

requireSharedData();
describeBrowserClients({
  baseModel: REAL_BASE_MODEL_JSON,
  photos: GROCERY,
  classes: GROCERY_QUICK_CLASSES,
  resizedAgreement: true,
  groceryDataset: GROCERY.root,
});
