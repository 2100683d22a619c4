/** The service's entry point (`npm start`): starts the HTTP service, or says in one line why it cannot. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppConfig, loadConfig } from './config/app-config';
import { DatabaseServer } from './database/database-server';
import { configureHttp } from './http-setup';

async function main(): Promise<void> {
  loadConfig(); // a bad setting stops here, before anything connects
  // Start-up lines are held until the JSON logger exists, so that every line on stdout is JSON.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false, // a failed start-up ends in main().catch, with its one-line message
  });
  const logger = app.get(Logger);
  app.useLogger(logger);
  configureHttp(app);
  const config = app.get(AppConfig);
  if (config.HOST) await app.listen(config.PORT, config.HOST);
  else await app.listen(config.PORT);
  logger.log(
    `listening on ${config.HOST ?? 'every interface'}, port ${config.PORT} (${config.NODE_ENV}); API docs at /docs`,
  );
}

// A bad setting or a failed start-up check (database, WORK_DIR, …) ends here: one line saying what to fix, then a non-zero exit.
main().catch(async (err: unknown) => {
  process.stderr.write(`ml-trainer could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  await DatabaseServer.stopEmbedded().catch(() => undefined);
  process.exit(1);
});
