/**
 * `npm run test:data`: the exported model of the real base model in Chromium. Teachable Machine's loader resizes
 * photos its own way; with a model that recognises them it names the trainer's product all the same.
 */
import { describeBrowserClients } from '../support/browser-clients';
import { GROCERY, REAL_BASE_MODEL_JSON, requireSharedData } from '../support/shared';

requireSharedData();
describeBrowserClients({ baseModel: REAL_BASE_MODEL_JSON, photos: GROCERY, resizedAgreement: true });
