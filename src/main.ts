import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppConfig, ConfigError, loadConfig } from './config/app-config';
import { configureHttp } from './http-setup';

async function main(): Promise<void> {
  try {
    loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Start-up lines are held until the JSON logger exists, so that every line on stdout is JSON.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { bodyParser: false, bufferLogs: true });
  const logger = app.get(Logger);
  app.useLogger(logger);
  configureHttp(app);
  const config = app.get(AppConfig);
  await app.listen(config.PORT);
  logger.log(`listening on port ${config.PORT} (${config.NODE_ENV}); API docs at /docs`);
}

void main();
