/** POST /v1/train's body and its validation. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsNumber, IsOptional, IsString, IsUrl, Max, MaxLength, Min } from 'class-validator';
import { INPUT_RANGES, MAX_UNKNOWN_SHARE, type InputRange } from '../../config/ml-choices';
import { HTTP_URL_OPTIONS, NoControlCharacters, NoUserInfo } from '../../common/validation';

/**
 * POST /v1/train: what the backend sends to start a training for one channel. (class-validator checks the decorator
 * nearest the field first, and the pipe stops at the first failure: the type check sits nearest.)
 */
export class TrainRequestDto {
  @ApiProperty({ example: '2', description: 'The channel (shop) whose products are trained' })
  @NoControlCharacters()
  @MaxLength(256)
  @IsNotEmpty()
  @IsString()
  channelId!: string;

  @ApiProperty({
    example:
      'http://backend:3000/admin-api?query=query{mlTrainingManifest(channelId:"2"){channelId,version,extractedAt,products{productId,productName,images{assetId,url,filename}}}}',
    description: 'GraphQL endpoint with the manifest query in ?query= (not URL-encoded)',
  })
  @NoUserInfo()
  @MaxLength(8192)
  @IsUrl(HTTP_URL_OPTIONS, { message: 'manifestUrl must be an http(s) URL' })
  @NoControlCharacters()
  @IsNotEmpty()
  @IsString()
  manifestUrl!: string;

  @ApiProperty({
    example: 'http://backend:3000/admin-api',
    description: 'GraphQL endpoint for status updates and the upload',
  })
  @NoUserInfo()
  @MaxLength(2048)
  @IsUrl(HTTP_URL_OPTIONS, { message: 'webhookUrl must be an http(s) URL' })
  @NoControlCharacters()
  @IsNotEmpty()
  @IsString()
  webhookUrl!: string;

  @ApiProperty({ description: 'Bearer token for the manifest, status and upload calls to the backend' })
  @NoControlCharacters()
  @MaxLength(8192)
  @IsNotEmpty()
  @IsString()
  authToken!: string;

  @ApiPropertyOptional({
    enum: INPUT_RANGES,
    description:
      'tm: x / 127 − 1 (Teachable Machine); unit: x / 255, rescaled inside the model (default: MODEL_INPUT_RANGE)',
  })
  @IsOptional()
  @IsIn(INPUT_RANGES)
  inputRange?: InputRange;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: MAX_UNKNOWN_SHARE,
    example: 0.1,
    description:
      "Share of the scans at this shop's till that show something it does not sell; the recognition gate is " +
      'calibrated for it (default: RECOGNITION_UNKNOWN_SHARE)',
  })
  @IsOptional()
  @Max(MAX_UNKNOWN_SHARE)
  @Min(0)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  unknownShare?: number;
}
