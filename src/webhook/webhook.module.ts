import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { BackendClient } from './backend-client.service';

@Module({
  imports: [HttpModule],
  providers: [BackendClient],
  exports: [BackendClient],
})
export class WebhookModule {}
