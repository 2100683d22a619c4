/** Nest module of the scheduler and the channel API. */
import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { JobsModule } from '../jobs/jobs.module';
import { ChannelStateStore } from './channel-state.store';
import { ChannelTrainingState } from './channel-training-state.entity';
import { ChannelsController } from './channels.controller';
import { OwnChannelStateStore } from './own-channel-state.store';
import { SchedulerService } from './scheduler.service';
import { VendureChannelStateStore } from './vendure-channel-state.store';

@Module({
  imports: [ScheduleModule.forRoot(), TypeOrmModule.forFeature([ChannelTrainingState]), JobsModule],
  controllers: [ChannelsController],
  providers: [
    OwnChannelStateStore,
    VendureChannelStateStore,
    {
      provide: ChannelStateStore,
      inject: [AppConfig, OwnChannelStateStore, VendureChannelStateStore],
      useFactory: (config: AppConfig, own: OwnChannelStateStore, vendure: VendureChannelStateStore) =>
        config.CHANNEL_STATE_SOURCE === 'vendure' ? vendure : own,
    },
    SchedulerService,
  ],
})
export class SchedulerModule {}
