/** Nest module of the point-of-sale backend's client. */
import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { BackendClient } from './backend-client.service';

/** The client of the point-of-sale backend. */
@Module({
  imports: [HttpModule],
  providers: [BackendClient],
  exports: [BackendClient],
})
export class BackendModule {}
