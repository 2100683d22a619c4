/** The jobs' HTTP API: POST /v1/train, GET /v1/jobs/:jobId, GET /v1/jobs. */
import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { refusedJobUrl } from '../common/egress';
import { AppConfig } from '../config/app-config';
import { JobView } from './dto/job.view';
import { ListJobsQuery } from './dto/list-jobs.query';
import { TrainRequestDto } from './dto/train-request.dto';
import { ChannelBusyError, JobsService } from './jobs.service';

@ApiTags('training')
@ApiBearerAuth()
@UseGuards(BearerAuthGuard)
@Controller('v1')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly config: AppConfig,
  ) {}

  /** Queues a training for a channel and answers at once; the work runs in the background. */
  @Post('train')
  @HttpCode(202)
  @ApiConflictResponse({ description: 'The channel already has a queued or running job; its jobId is returned' })
  async train(@Body() request: TrainRequestDto): Promise<{ message: string; jobId: string }> {
    const refused = (['manifestUrl', 'webhookUrl'] as const).flatMap((field) => {
      const reason = refusedJobUrl(request[field], this.config.allowedHosts);
      return reason ? [`${field}: ${reason}`] : [];
    });
    if (refused.length) throw new BadRequestException(refused);
    try {
      const { jobId } = await this.jobs.startTraining(request);
      return { message: 'Training job accepted', jobId };
    } catch (err) {
      if (err instanceof ChannelBusyError) {
        throw new ConflictException({ statusCode: 409, message: err.message, error: 'Conflict', jobId: err.jobId });
      }
      throw err;
    }
  }

  @Get('jobs/:jobId')
  @ApiOkResponse({ type: JobView })
  async job(@Param('jobId', new ParseUUIDPipe()) jobId: string): Promise<JobView> {
    const job = await this.jobs.find(jobId);
    if (!job) throw new NotFoundException(`no job ${jobId}`);
    return JobView.of(job);
  }

  @Get('jobs')
  @ApiOkResponse({ type: [JobView] })
  async list(@Query() query: ListJobsQuery): Promise<JobView[]> {
    return (await this.jobs.list(query)).map(JobView.of);
  }
}
