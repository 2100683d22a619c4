/** The HTTP app's settings shared by the service and its tests: body limit, validation, shutdown hooks, /docs. */
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { BoundedValidationPipe, STRICT_VALIDATION } from './common/validation';

/** Largest request body accepted (POST /v1/train carries four strings). */
const BODY_LIMIT = '64kb';

/** Applies what every HTTP entry point of the service needs; shared by main() and the end-to-end tests. */
export function configureHttp(app: INestApplication): void {
  const express = app as NestExpressApplication;
  express.useBodyParser('json', { limit: BODY_LIMIT });
  app.useGlobalPipes(new BoundedValidationPipe({ ...STRICT_VALIDATION, transform: true }));
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('ml-trainer')
      .setDescription('Trains product recognition models from a shop’s photos for the point-of-sale backend.')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document);
}
