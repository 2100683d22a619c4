/** The jobs' HTTP API: POST /v1/train, GET /v1/jobs/:jobId (and its report), GET /v1/jobs. */
import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  Header,
  HttpException,
  HttpCode,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { Response } from 'express';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { BearerAuthGuard } from '../auth/bearer-auth.guard';
import { refusedJobUrl } from '../common/egress';
import { AppConfig } from '../config/app-config';
import { JobSummaryView, JobView } from './dto/job.view';
import { ListJobsQuery } from './dto/list-jobs.query';
import { TrainRequestDto } from './dto/train-request.dto';
import { KEPT_REPORTS_PER_CHANNEL } from './job-report.entity';
import { ChannelBusyError, JobsService, QueueFullError } from './jobs.service';

/** When a client refused for a full queue should ask again: about what a few trainings take. */
const QUEUE_FULL_RETRY_AFTER_SECONDS = 60;

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
  @ApiTooManyRequestsResponse({ description: 'MAX_QUEUED_JOBS jobs are queued; Retry-After says when to ask again' })
  async train(
    @Body() request: TrainRequestDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<{ message: string; jobId: string }> {
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
      if (err instanceof QueueFullError) {
        response.setHeader('retry-after', String(QUEUE_FULL_RETRY_AFTER_SECONDS));
        throw new HttpException({ statusCode: 429, message: err.message, error: 'Too Many Requests' }, 429);
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

  /**
   * report.html of a completed job: a self-contained page (no script, nothing fetched; the headers forbid both).
   * A channel's last KEPT_REPORTS_PER_CHANNEL reports are kept.
   */
  @Get('jobs/:jobId/report')
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'What the model will recognise, what it confuses and what to photograph next' })
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', "default-src 'none'; img-src data:; style-src 'unsafe-inline'")
  @Header('x-content-type-options', 'nosniff')
  async report(@Param('jobId', new ParseUUIDPipe()) jobId: string): Promise<string> {
    const job = await this.jobs.find(jobId);
    if (!job) throw new NotFoundException(`no job ${jobId}`);
    if (job.status !== 'completed')
      throw new NotFoundException(`job ${jobId} is ${job.status}: a report comes with a completed job`);
    const html = await this.jobs.report(jobId);
    if (html === null)
      throw new NotFoundException(
        `the report of job ${jobId} is no longer kept (a channel's last ${KEPT_REPORTS_PER_CHANNEL} are)`,
      );
    return html;
  }

  @Get('jobs')
  @ApiOkResponse({ type: [JobSummaryView] })
  async list(@Query() query: ListJobsQuery): Promise<JobSummaryView[]> {
    return (await this.jobs.list(query)).map(JobSummaryView.of);
  }
}
