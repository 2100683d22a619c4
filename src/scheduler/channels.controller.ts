/** The channel API: queue a channel for training, read channels' state, run a scheduler tick now. */
import { Controller, Get, HttpCode, NotFoundException, Param, Post, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { ChannelIdParam } from './channel-id.param';
import { ChannelStateStore } from './channel-state.store';
import type { ChannelState } from './eligibility';
import { SchedulerService, type TickResult } from './scheduler.service';

@ApiTags('scheduler')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1')
export class ChannelsController {
  constructor(
    private readonly channels: ChannelStateStore,
    private readonly scheduler: SchedulerService,
  ) {}

  /** Marks a channel queued for training; an already queued channel keeps its first queuedAt. */
  @Put('channels/:channelId/queue')
  async queue(@Param() { channelId }: ChannelIdParam): Promise<ChannelState> {
    const channel = await this.channels.markQueued(channelId);
    if (!channel) throw new NotFoundException(`no channel ${channelId}`);
    return channel;
  }

  @Get('channels/:channelId')
  async channel(@Param() { channelId }: ChannelIdParam): Promise<ChannelState> {
    const channel = await this.channels.get(channelId);
    if (!channel) throw new NotFoundException(`no channel ${channelId}`);
    return channel;
  }

  @Get('channels')
  list(): Promise<ChannelState[]> {
    return this.channels.list();
  }

  /** Runs one scheduler tick now (for operators and tests). */
  @Post('scheduler/run')
  @HttpCode(200)
  run(): Promise<TickResult> {
    return this.scheduler.tick();
  }
}
