/** GET /v1/jobs query parameters. */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { NoControlCharacters } from '../../common/validation';
import { JOB_STATES, type JobState } from '../training-job.entity';

/** GET /v1/jobs filters; newest first. */
export class ListJobsQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(256)
  @NoControlCharacters()
  channelId?: string;

  @ApiPropertyOptional({ enum: JOB_STATES })
  @IsOptional()
  @IsIn(JOB_STATES)
  status?: JobState;

  @ApiPropertyOptional({ default: 20, minimum: 1, maximum: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit = 20;
}
